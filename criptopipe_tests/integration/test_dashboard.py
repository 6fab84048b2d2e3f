"""The dashboard rendered by Streamlit's own AppTest against real PostgreSQL and MongoDB holding
data loaded through the pipeline (sandbox -> assets -> IO manager), and against empty stores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
from streamlit.testing.v1 import AppTest

from criptopipe.assets.coincap import asset_history, market_snapshots, raw_assets
from criptopipe.checks import quality_checks
from criptopipe.sandbox import SandboxServer
from criptopipe.storage.datasets import RAW_ASSETS
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import Slice
from criptopipe_tests.factories import pipeline_resources

APP = str(Path(__file__).resolve().parents[2] / "criptopipe" / "dashboard" / "app.py")
COINS = ["bitcoin", "ethereum", "tether", "solana", "xrp"]


def load_through_pipeline(
    pg_url: str, schema: str, mongo_uri: str, coins: list[str], days: int
) -> None:
    latest = datetime.now(timezone.utc).date() - timedelta(days=1)
    with SandboxServer(port=0, key="test", coins=max(60, len(coins) + 20)) as sb:
        resources = pipeline_resources(pg_url, schema, mongo_uri, sb.base_url, coins)
        dg.materialize(
            [asset_history, *quality_checks],
            selection=dg.AssetSelection.assets(asset_history)
            | dg.AssetSelection.checks_for_assets(asset_history),
            resources=resources,
            tags={
                "dagster/asset_partition_range_start": str(latest - timedelta(days=days - 1)),
                "dagster/asset_partition_range_end": str(latest),
            },
        )
        dg.materialize(
            [raw_assets, market_snapshots], partition_key=str(latest), resources=resources
        )


@pytest.fixture
def loaded(
    pg_url: str, pg_schema: str, mongo_url: str, mongo_db: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    mongo_uri = f"{mongo_url.rsplit('/', 1)[0]}/{mongo_db}"
    load_through_pipeline(pg_url, pg_schema, mongo_uri, COINS, 40)
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("CRIPTOPIPE_PG_SCHEMA", pg_schema)
    monkeypatch.setenv("MONGODB_URI", mongo_uri)
    monkeypatch.setenv("COINCAP_CREDIT_BUDGET", "2500")
    yield {"pg_url": pg_url, "schema": pg_schema}


def render(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.sidebar.radio[0].set_value(page).run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_market_page_shows_the_numbers_in_the_tables(loaded: dict[str, str]) -> None:
    pg = PostgresStore(loaded["pg_url"], schema=loaded["schema"])
    latest = datetime.now(timezone.utc).date() - timedelta(days=1)
    assets = pg.read_slice(RAW_ASSETS, Slice.days(latest, latest))
    cap = sum(assets["market_cap_usd"], Decimal(0))
    btc = assets.loc[assets["coin_id"] == "bitcoin", "market_cap_usd"].item()
    at = render("Market")
    shown = metrics(at)
    assert shown["Coins tracked"] == "5"
    assert shown["BTC dominance"] == f"{float(btc / cap * 100):.1f}%"
    assert shown["Market cap (tracked coins)"].startswith("$")
    coins_table = at.dataframe[-1].value
    assert list(coins_table["symbol"]) == list(assets.sort_values("rank")["symbol"])
    assert all(len(t) == 30 for t in coins_table["30d"])


def test_coin_page_history_markets_and_raw_document(loaded: dict[str, str]) -> None:
    at = render("Coin")
    shown = metrics(at)
    assert shown["Days loaded"] == "40"
    assert at.selectbox[0].value == "bitcoin"
    assert len(at.get("plotly_chart")) == 2
    raw = at.json[0].value
    assert '"name": "Bitcoin (synthetic)"' in raw or "Bitcoin (synthetic)" in raw
    at.toggle[0].set_value(True).run()
    assert not at.exception


def test_exchanges_page(loaded: dict[str, str]) -> None:
    at = render("Exchanges")
    shown = metrics(at)
    assert int(shown["Exchanges"]) > 5
    shares = at.dataframe[0].value
    assert abs(shares["share %"].sum() - 100) < 0.1


def test_pipeline_health_page(loaded: dict[str, str]) -> None:
    at = render("Pipeline health")
    shown = metrics(at)
    assert shown["Days of history"] == "40"
    assert shown["Credits this month"].endswith("/ 2,500")
    spent = int(shown["Credits this month"].split("/")[0].replace(",", ""))
    assert spent > 0
    tables = [d.value for d in at.dataframe]
    parity = next(t for t in tables if "agree" in t.columns)
    assert parity["agree"].all() and set(parity["dataset"]) == {
        "raw_assets",
        "asset_history",
        "market_snapshots",
    }
    checks = next(t for t in tables if "check_name" in t.columns)
    assert {"no_duplicate_keys", "stores_agree", "valid_prices"} <= set(checks["check_name"])


@pytest.mark.parametrize("page", ["Market", "Coin", "Exchanges", "Pipeline health"])
def test_empty_database_says_how_to_load(
    pg_url: str,
    pg_schema: str,
    mongo_url: str,
    mongo_db: str,
    monkeypatch: pytest.MonkeyPatch,
    page: str,
) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("CRIPTOPIPE_PG_SCHEMA", pg_schema)
    monkeypatch.setenv("MONGODB_URI", f"{mongo_url.rsplit('/', 1)[0]}/{mongo_db}")
    at = render(page)
    assert any("make run" in i.value for i in at.info)
