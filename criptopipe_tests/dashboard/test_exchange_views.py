"""The exchanges' panels rendered by Streamlit's AppTest over data loaded through the pipeline
(both sandboxes -> CCXT and the CoinCap client -> IO manager -> both stores): candlesticks per
exchange with CoinCap's d1 over them and the sources-agree panel on the Coin page, exchange
requests on Pipeline health. Kraken is skewed 4% so that every day shows an outlier."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pytest
from psycopg import sql
from streamlit.testing.v1 import AppTest

from criptopipe.datasets import EXCHANGE_CANDLES
from criptopipe.defs.assets.coincap import asset_history, raw_assets
from criptopipe.defs.assets.derived import daily_prices
from criptopipe.defs.assets.exchanges import exchange_candles
from criptopipe.sources.coincap.sandbox import SandboxServer
from criptopipe.sources.exchanges.sandbox import ExchangeSandbox
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import Slice
from criptopipe_tests.dashboard.fixtures import Loaded, throwaway_names
from criptopipe_tests.factories import pipeline_resources

APP = str(Path(__file__).resolve().parents[2] / "criptopipe" / "dashboard" / "app.py")
COINS = ["bitcoin", "ethereum"]
DAYS = 10


@pytest.fixture(scope="module")
def loaded_data(pg_url: str, mongo_url: str) -> Iterator[Loaded]:
    latest = datetime.now(timezone.utc).date() - timedelta(days=1)
    first = latest - timedelta(days=DAYS - 1)
    with (
        throwaway_names(pg_url, mongo_url) as (schema, mongo_uri),
        SandboxServer(port=0, key="test", coins=40) as sb,
        ExchangeSandbox(port=0, coins=40, skew={"kraken": 4.0}) as xsb,
    ):
        resources = pipeline_resources(pg_url, schema, mongo_uri, sb.base_url, COINS, xsb.urls)
        dg.materialize([raw_assets], partition_key=str(latest), resources=resources)
        dg.materialize(
            [asset_history, exchange_candles, daily_prices],
            resources=resources,
            tags={
                "dagster/asset_partition_range_start": str(first),
                "dagster/asset_partition_range_end": str(latest),
            },
        )
        yield Loaded(pg_url, schema, mongo_uri, latest, DAYS, tuple(COINS))


@pytest.fixture
def loaded(loaded_data: Loaded, monkeypatch: pytest.MonkeyPatch) -> Loaded:
    for key, value in loaded_data.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DASHBOARD_DATABASE_URL", raising=False)
    monkeypatch.delenv("DASHBOARD_MONGODB_URI", raising=False)
    return loaded_data


def render(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["page"] = page
    at.run()
    assert not at.exception, at.exception
    return at


def values(field: Any) -> list[Any]:
    """A trace's numbers as a list: Plotly sends numeric arrays as base64 typed arrays."""
    if isinstance(field, dict) and "bdata" in field:
        return list(np.frombuffer(base64.b64decode(field["bdata"]), field["dtype"]))
    return list(field)


def traces(at: AppTest, kind: str) -> list[dict[str, Any]]:
    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return [t for f in figures for t in f["data"] if t.get("type") == kind]


def test_coin_page_draws_candles_per_exchange_and_the_sources_spread(loaded: Loaded) -> None:
    window = Slice.days(loaded.latest - timedelta(days=DAYS - 1), loaded.latest)
    candles = PostgresStore(loaded.pg_url, schema=loaded.schema).read_slice(
        EXCHANGE_CANDLES, window
    )
    candles = candles[candles["coin_id"] == "bitcoin"]  # (slices narrow by pair, not coin)
    at = render("Coin")
    sticks = traces(at, "candlestick")
    assert sorted(t["name"] for t in sticks) == ["binance BTC/USDT", "kraken BTC/USDT"]
    binance = candles[candles["exchange"] == "binance"].sort_values("day")
    shown = next(t for t in sticks if t["name"] == "binance BTC/USDT")
    assert [round(float(v), 6) for v in values(shown["close"])] == [
        round(float(c), 6) for c in binance["close"]
    ]
    # CoinCap's d1 line is drawn over every exchange's panel
    lines = [t for t in traces(at, "scatter") if t.get("name") == "CoinCap d1 (USD)"]
    assert len(lines) == 2
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Days compared"] == str(DAYS)
    assert metrics["Days over 2%"] == str(DAYS)  # kraken 4% above the others every day
    (spread,) = traces(at, "bar")
    assert len(spread["x"]) == DAYS
    outliers = at.dataframe[-1].value
    assert set(outliers["outlier"]) == {"kraken vwap"} and len(outliers) == DAYS


def test_pipeline_health_lists_exchange_requests(loaded: Loaded) -> None:
    with PostgresStore(loaded.pg_url, schema=loaded.schema).connect() as conn:
        ledger = dict(
            conn.execute(
                sql.SQL(
                    "SELECT source, sum(requests)::int FROM {} WHERE asset = 'exchange_candles' "
                    "GROUP BY source"
                ).format(sql.Identifier(loaded.schema, "credit_ledger"))
            ).fetchall()
        )
    at = render("Pipeline health")
    requests = next(d.value for d in at.dataframe if "fetches" in d.value.columns)
    assert dict(zip(requests["source"], requests["requests"], strict=True)) == ledger
    assert len(ledger) == 2 and all(n > 0 for n in ledger.values())
