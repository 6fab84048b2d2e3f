"""The dashboard rendered by Streamlit's own AppTest against real PostgreSQL and MongoDB holding
data loaded through the pipeline (sandbox -> client -> transform -> IO manager -> both stores),
and against empty stores. Each page's numbers are checked against the tables themselves."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest
import streamlit as st
from psycopg import sql
from pymongo import monitoring
from streamlit.testing.v1 import AppTest

from criptopipe.config import DEFAULT_BASE_URL as DEFAULT_URL
from criptopipe.dashboard import queries
from criptopipe.dashboard.charts import DAY_MS
from criptopipe.dashboard.data import MIN_PROJECTION_DAYS, money, projection, usd
from criptopipe.dashboard.sources import read
from criptopipe.datasets import ASSET_HISTORY, MARKET_SNAPSHOTS, RAW_ASSETS
from criptopipe.storage import ledger
from criptopipe.storage.errors import StorageError
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import Slice
from criptopipe_tests.dashboard.fixtures import (
    COINS,
    Loaded,
    load_through_pipeline,
    mongo_uri_for,
    throwaway_names,
)

APP = str(Path(__file__).resolve().parents[2] / "criptopipe" / "dashboard" / "app.py")
DAYS = 40


@pytest.fixture(scope="module")
def loaded_data(pg_url: str, mongo_url: str) -> Iterator[Loaded]:
    """40 days x 5 coins, loaded once for the module (the pages only read)."""
    with throwaway_names(pg_url, mongo_url) as (schema, mongo_uri):
        yield load_through_pipeline(pg_url, schema, mongo_uri, COINS, DAYS)


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
    assert at.sidebar.radio[0].value == page
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def figures(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def values(trace_field: Any) -> list[Any]:
    """A trace's x/y as a list: Plotly sends numeric arrays as base64 typed arrays."""
    if isinstance(trace_field, dict) and "bdata" in trace_field:
        return list(np.frombuffer(base64.b64decode(trace_field["bdata"]), trace_field["dtype"]))
    return list(trace_field)


def frames(at: AppTest) -> list[Any]:
    return [d.value for d in at.dataframe]


def captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def labels(element: Any) -> dict[str, str]:
    """A table's column labels, as its column config sends them to the browser."""
    config = json.loads(element.proto.columns or "{}")
    return {c: config.get(c, {}).get("label") or "" for c in element.value.columns}


def displayed(element: Any) -> pd.DataFrame:
    """The cells as the browser draws them (a Styler's display values)."""
    from streamlit import dataframe_util

    return dataframe_util.convert_arrow_bytes_to_pandas_df(
        element.proto.arrow_data.styler.display_values
    )


def assert_every_column_labelled(at: AppTest) -> None:
    """No raw column name reaches a reader: every column has a label of words."""
    for element in at.dataframe:
        for column, label in labels(element).items():
            assert label, f"column {column!r} has no label"
            assert "_" not in label, f"column {column!r} is labelled {label!r}"


def store(loaded: Loaded) -> PostgresStore:
    return PostgresStore(loaded.pg_url, schema=loaded.schema)


def test_market_page_shows_the_numbers_in_the_tables(loaded: Loaded) -> None:
    assets = store(loaded).read_slice(RAW_ASSETS, Slice.days(loaded.latest, loaded.latest))
    cap = sum(assets["market_cap_usd"], Decimal(0))
    btc = assets.loc[assets["coin_id"] == "bitcoin", "market_cap_usd"].item()
    change = (
        sum(
            (
                m * c
                for m, c in zip(
                    assets["market_cap_usd"], assets["change_percent_24hr"], strict=True
                )
            ),
            Decimal(0),
        )
        / cap
    )

    at = render("Market")
    shown = metrics(at)
    assert shown["Coins tracked"] == "5"
    assert shown["BTC dominance"] == f"{float(btc / cap * 100):.1f}%"
    assert shown["Market cap (tracked coins)"] == money(cap)
    assert shown["24h change (cap-weighted)"] == f"{float(change):+.2f}%"

    gainers, losers, table = frames(at)
    by_change = assets.sort_values("change_percent_24hr")
    up = by_change[by_change["change_percent_24hr"] > 0]
    down = by_change[by_change["change_percent_24hr"] < 0]
    assert list(gainers["symbol"]) == list(up["symbol"][::-1][:5])
    assert list(losers["symbol"]) == list(down["symbol"][:5])
    assert list(table["symbol"]) == list(assets.sort_values("rank")["symbol"])
    assert list(table["price"]) == [float(p) for p in assets.sort_values("rank")["price_usd"]]
    history = store(loaded).read_slice(
        ASSET_HISTORY, Slice.days(loaded.latest - timedelta(days=29), loaded.latest)
    )
    btc_row = table[table["symbol"] == "BTC"].iloc[0]
    btc_prices = history[history["coin_id"] == "bitcoin"].sort_values("day")["price_usd"]
    assert list(btc_row["trend"]) == [float(p) for p in btc_prices] and len(btc_prices) == 30
    # what a reader sees: $1.19T, not 1194890607002; the price in full with separators
    cells = displayed(at.dataframe[2])
    by_rank = assets.sort_values("rank").reset_index(drop=True)
    assert list(cells["market cap"]) == [money(v) for v in by_rank["market_cap_usd"]]
    assert list(cells["volume 24h"]) == [money(v) for v in by_rank["volume_usd_24hr"]]
    assert list(cells["price"]) == [usd(v) for v in by_rank["price_usd"]]
    assert all(re.fullmatch(r"\$\d{1,3}\.\d\d[KMBT]?", c) for c in cells["market cap"])
    assert labels(at.dataframe[2])["price"] == "price (USD, when fetched)"
    assert_every_column_labelled(at)
    fetched = pd.to_datetime(assets["fetched_at"], utc=True).min()
    caption = next(c for c in captions(at) if "asset list" in c)
    assert f"for {loaded.latest} (partition), fetched {fetched:%Y-%m-%d %H:%M} UTC" in caption
    assert "close of that UTC day" not in caption


def test_coin_page_history_range_log_markets_supply_and_raw_document(loaded: Loaded) -> None:
    history = store(loaded).read_slice(
        ASSET_HISTORY, Slice.days(loaded.latest - timedelta(days=DAYS), loaded.latest)
    )
    btc = history[history["coin_id"] == "bitcoin"].sort_values("day")
    snap = store(loaded).read_slice(RAW_ASSETS, Slice.days(loaded.latest, loaded.latest))
    btc_snap = snap[snap["coin_id"] == "bitcoin"].iloc[0]

    at = render("Coin")
    assert at.selectbox[0].value == "bitcoin"
    shown = metrics(at)
    assert shown["Days loaded"] == str(DAYS)
    # the two prices say which they are: CoinCap's d1 average vs the snapshot's live price
    assert shown[f"d1 avg price, {loaded.latest:%b %-d}"] == usd(btc["price_usd"].iloc[-1])
    assert shown[f"Snapshot price, {loaded.latest:%b %-d}"] == usd(btc_snap["price_usd"])
    assert shown["Circulating supply"] == money(btc_snap["supply"]).removeprefix("$")
    price, markets, supply = figures(at)
    assert len(price["data"][0]["x"]) == DAYS  # "1 year" holds all 40 loaded days
    assert price["layout"]["yaxis"].get("type") != "log"
    assert "d1" in price["layout"]["title"]["text"]
    assert price["layout"]["xaxis"]["tickformat"] == "%b %-d"  # days, not times of day
    assert supply["data"][0].get("fill") is None  # a line, not a flat filled block
    assert len(markets["data"]) <= 6  # five quote currencies and "other quotes": a legend that fits
    btc_markets = store(loaded).read_slice(
        MARKET_SNAPSHOTS, Slice.days(loaded.latest, loaded.latest, coins=["bitcoin"])
    )
    quotes = {t["name"] for t in markets["data"]} - {"other quotes"}  # the rest, grouped
    assert quotes <= set(btc_markets["quote_symbol"]) and quotes
    raw = json.loads(at.json[0].value)
    assert raw["record"]["id"] == "bitcoin" and raw["record"]["name"] == btc_snap["name"]
    assert raw["request_path"].startswith("/assets")

    at.main.radio[0].set_value("30 days").run()
    at.toggle[0].set_value(True).run()
    assert not at.exception
    price = figures(at)[0]
    assert len(price["data"][0]["x"]) == 30
    assert price["layout"]["yaxis"]["type"] == "log"

    at.selectbox[0].set_value("ethereum").run()
    eth = history[history["coin_id"] == "ethereum"].sort_values("day")
    assert metrics(at)[f"d1 avg price, {loaded.latest:%b %-d}"] == usd(eth["price_usd"].iloc[-1])
    assert json.loads(at.json[0].value)["record"]["id"] == "ethereum"


def test_exchanges_page_shares_volume_by_exchange(loaded: Loaded) -> None:
    markets = store(loaded).read_slice(MARKET_SNAPSHOTS, Slice.days(loaded.latest, loaded.latest))
    volume = (
        markets.assign(v=markets["volume_usd_24hr"].astype(float).fillna(0.0))
        .groupby("exchange_id")["v"]
        .sum()
    )
    top = str(volume.idxmax())

    at = render("Exchanges")
    shown = metrics(at)
    assert shown["Exchanges"] == str(markets["exchange_id"].nunique())
    assert shown["Markets"] == f"{len(markets):,}"
    assert shown["Largest exchange"] == f"{top} ({volume[top] / volume.sum() * 100:.1f}%)"
    shares = frames(at)[0]
    assert abs(shares["share %"].sum() - 100) < 1e-6
    assert shares["exchange_id"].iloc[0] == top
    assert labels(at.dataframe[0])["exchange_id"] == "exchange"
    assert list(displayed(at.dataframe[0])["volume_usd_24hr"]) == [
        money(v) for v in shares["volume_usd_24hr"]
    ]
    assert_every_column_labelled(at)
    # bars labelled with their share, the rest as one "other" bar: nothing left to a legend
    (bars,) = figures(at)[0]["data"]
    assert bars["type"] == "bar" and bars["orientation"] == "h"
    rest = len(shares) - 15
    assert list(bars["y"]) == list(shares["exchange_id"].head(15)) + (
        [f"other ({rest})"] if rest > 0 else []
    )
    assert bars["text"][0] == f"{shares['share %'].iloc[0]:.1f}%"


def test_pipeline_health_page(loaded: Loaded) -> None:
    with psycopg.connect(loaded.pg_url) as conn:
        month = datetime.now(timezone.utc).replace(day=1, hour=0, minute=0, second=0)
        row = conn.execute(
            sql.SQL("SELECT sum(credits) FROM {}.credit_ledger WHERE recorded_at >= %s").format(
                sql.Identifier(loaded.schema)
            ),
            (month,),
        ).fetchone()
    spent = int(row[0]) if row and row[0] else 0
    history = store(loaded).read_slice(
        ASSET_HISTORY, Slice.days(loaded.latest - timedelta(days=DAYS), loaded.latest)
    )
    missing = 0
    for _, days in history.groupby("coin_id")["day"]:
        missing += (max(days) - min(days)).days + 1 - len(days)

    at = render("Pipeline health")
    shown = metrics(at)
    assert spent > 0
    # every credit was spent on the sandbox: shown apart, never against CoinCap's budget
    assert shown["CoinCap credits this month"] == "0 / 2,500"
    assert shown["Sandbox credits this month"] == f"{spent:,}"
    assert shown["Days of history"] == str(DAYS)
    assert shown["Missing (coin, day) pairs"] == str(missing)
    calendar, credits = figures(at)
    assert [t["type"] for t in calendar["data"]] == ["heatmap"] * 3
    assert sum(values(credits["data"][0]["y"])) == 0  # CoinCap's bars: nothing spent there
    sandbox_bars = credits["data"][2]
    assert (
        sandbox_bars["name"].startswith("sandbox credits")
        and sum(values(sandbox_bars["y"])) == spent
    )
    assert max(values(credits["data"][1]["y"])) == 0  # the month-to-date line stays at 0
    tables = frames(at)
    parity = next(t for t in tables if "agree" in t.columns)
    assert parity["agree"].all()
    assert set(parity["dataset"]) == {"raw_assets", "asset_history", "market_snapshots"}
    assert (parity["postgres"] == parity["mongodb"]).all() and (parity["postgres"] > 0).all()
    loads = next(t for t in tables if "last_fetched" in t.columns)
    loads = loads[loads["rows"] > 0]  # the exchanges' datasets are listed too, never loaded here
    assert dict(zip(loads["asset"], loads["latest_day"], strict=True)) == {
        name: loaded.latest for name in ("raw_assets", "asset_history", "market_snapshots")
    }
    runs = next(t for t in tables if "run_id" in t.columns and "credits" in t.columns)
    assert runs["credits"].sum() == spent and runs["succeeded"].all()
    per_url = next(t for t in tables if "kind" in t.columns)
    assert list(per_url["kind"]) == ["sandbox (synthetic data)"]
    assert list(per_url["credits"]) == [spent] and list(per_url["budget"]) == ["no (synthetic)"]
    assert_every_column_labelled(at)
    checks = next(t for t in tables if "check_name" in t.columns)
    assert {"no_duplicate_keys", "stores_agree", "valid_prices"} <= set(checks["check_name"])
    assert "No failed runs recorded." in captions(at)


def test_pipeline_health_without_checks_says_none_recorded(
    pg_url: str, pg_schema: str, mongo_url: str, mongo_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = load_through_pipeline(
        pg_url, pg_schema, mongo_uri_for(mongo_url, mongo_db), COINS[:2], 3, with_checks=False
    )
    for key, value in data.env().items():
        monkeypatch.setenv(key, value)
    at = render("Pipeline health")
    assert metrics(at)["Days of history"] == "3"
    assert "No checks recorded yet." in captions(at)


def test_reads_are_read_only_and_dashboard_url_wins(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = queries.Sources.from_settings()
    with pytest.raises(StorageError, match="read-only transaction"):
        read(src, sql.SQL("DELETE FROM {}.raw_assets").format(sql.Identifier(loaded.schema)))
    assert len(queries.latest_assets(src)) == len(COINS)
    monkeypatch.setenv("DASHBOARD_DATABASE_URL", "postgresql://dashboard@127.0.0.1:1/x")
    assert queries.Sources.from_settings().pg_url == "postgresql://dashboard@127.0.0.1:1/x"
    monkeypatch.setenv("COINCAP_CREDIT_BUDGET", "off")
    assert queries.Sources.from_settings().budget is None


class _Commands(monitoring.CommandListener):
    """The names of the MongoDB commands clients of this process send while `active`."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.active = False

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.active:
            self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


_COMMANDS = _Commands()
monitoring.register(_COMMANDS)  # applies to the clients created from now on (the dashboard's)
#: everything the dashboard may send: finds and their cursors, and the driver's own handshakes
READ_COMMANDS = {"find", "getMore", "killCursors", "endSessions", "hello", "isMaster", "ping"}


def test_dashboard_reads_mongodb_with_its_own_uri_and_only_finds(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded wire server has no users to refuse a write (test_dashboard_access.py), so
    the discipline is the client's: the pages that read MongoDB send it nothing but finds, over
    DASHBOARD_MONGODB_URI."""
    monkeypatch.setenv("DASHBOARD_MONGODB_URI", loaded.mongo_uri)
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:1/unused")  # the writer's: not read
    st.cache_data.clear()
    _COMMANDS.names.clear()
    _COMMANDS.active = True
    try:
        coin = render("Coin")
        health = render("Pipeline health")
    finally:
        _COMMANDS.active = False
    assert json.loads(coin.json[0].value)["record"]["id"] == "bitcoin"  # the raw document
    parity = next(t for t in frames(health) if "agree" in t.columns)
    assert parity["agree"].all() and (parity["mongodb"] > 0).all()
    assert "find" in _COMMANDS.names
    assert set(_COMMANDS.names) <= READ_COMMANDS, set(_COMMANDS.names) - READ_COMMANDS


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
    monkeypatch.setenv("MONGODB_URI", mongo_uri_for(mongo_url, mongo_db))
    monkeypatch.delenv("DASHBOARD_DATABASE_URL", raising=False)
    at = render(page)
    assert any("make run" in i.value for i in at.info)
    assert not at.get("plotly_chart") and not at.metric


def test_one_day_database_with_coincap_and_sandbox_spend(
    pg_url: str, pg_schema: str, mongo_url: str, mongo_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first day after `make run`: every page renders one day as one day (a dot, a bar,
    dates on the axes), and CoinCap's spend is counted against the budget, the sandbox's not."""
    data = load_through_pipeline(
        pg_url, pg_schema, mongo_uri_for(mongo_url, mongo_db), COINS[:2], 1, with_checks=False
    )
    for key, value in data.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("COINCAP_BASE_URL", raising=False)  # the budget is CoinCap's own URL's
    sandbox_spent = ledger.spent_this_month(PostgresStore(pg_url, schema=pg_schema))
    ledger.record(
        PostgresStore(pg_url, schema=pg_schema),
        ledger.LedgerEntry(
            "real-run",
            "asset_history",
            data.latest,
            data.latest,
            11,
            25_000,
            1_234,
            DEFAULT_URL,
            True,
        ),
    )
    noon_before = pd.Timestamp(data.latest) - pd.Timedelta(hours=12)
    one_day = (noon_before, noon_before + pd.Timedelta(days=1))  # the day, half a day each side

    coin = render("Coin")
    price = figures(coin)[0]
    assert len(values(price["data"][0]["y"])) == 1 and price["data"][0]["mode"] == "lines+markers"
    axis = price["layout"]["xaxis"]
    assert (axis["type"], axis["tickformat"], axis["dtick"]) == ("date", "%b %-d", DAY_MS)
    assert [pd.Timestamp(x) for x in axis["range"]] == [pd.Timestamp(x) for x in one_day]

    health = render("Pipeline health")
    shown = metrics(health)
    assert shown["CoinCap credits this month"] == "1,234 / 2,500"
    assert shown["Sandbox credits this month"] == f"{sandbox_spent:,}" and sandbox_spent > 0
    assert shown["Days of history"] == "1"
    calendar, credits = figures(health)
    assert calendar["layout"]["xaxis"]["tickformat"] == "%b %-d"
    assert credits["layout"]["xaxis"]["tickformat"] == "%b %-d"
    assert (
        credits["layout"]["xaxis"]["dtick"] == DAY_MS or len(values(credits["data"][0]["y"])) > 14
    )
    assert sum(values(credits["data"][0]["y"])) == 1_234
    per_url = next(t for t in frames(health) if "kind" in t.columns)
    assert list(per_url["url"])[0] == DEFAULT_URL and list(per_url["budget"])[0] == "2,500"
    assert list(per_url["kind"]) == ["CoinCap", "sandbox (synthetic data)"]
    said = " ".join(captions(health))
    today = queries.today()
    if today.day < MIN_PROJECTION_DAYS:
        assert "No projection yet" in said and "At this pace" not in said
    else:
        assert "At this pace the month ends at" in said and "a day) x" in said
    for page in ("Market", "Exchanges"):
        at = render(page)
        assert not at.info and at.metric


def test_the_projection_waits_for_enough_days_and_says_how_it_is_computed() -> None:
    assert projection(140, 2500, date(2026, 12, 1)) is None  # day 1: no 174% alarm
    assert projection(140, 2500, date(2026, 12, MIN_PROJECTION_DAYS - 1)) is None
    assert projection(140, None, date(2026, 12, 20)) is None
    p = projection(700, 2500, date(2026, 12, 10))
    assert p is not None and round(p.share, 1) == 86.8
    assert p.explain("December") == (
        "At this pace the month ends at 87% of the budget: 700 credits in the first 10 days of "
        "December (70.0 a day) x 31 days = 2,170 of 2,500."
    )


def test_numbers_read_as_people_write_them() -> None:
    assert money(1_194_890_607_002) == "$1.19T" and money(61_120) == "$61.12K"
    assert usd(60_348.123) == "$60,348.12" and usd(0.012345) == "$0.01235" and usd(None) == "-"
