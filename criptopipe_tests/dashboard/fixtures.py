"""Dashboard fixture data, loaded the way production data is: the CoinCap sandbox behind the real
client, the assets' transform and the warehouse IO manager writing both stores, the credit
ledger and (optionally) the data-quality checks writing coincap.check_results.

Shared by the AppTest suite, the Chromium test and benchmarks/dashboard_render.py, with the
`streamlit run` subprocess and the "page is drawn" wait the last two need.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import psycopg
import pymongo
import pytest
from psycopg import sql

from criptopipe.dashboard import queries
from criptopipe.dashboard.sources import connect, read, table
from criptopipe.sources.coincap.sandbox import SandboxServer
from criptopipe.storage import ops_log
from criptopipe_tests.factories import pipeline_resources

COINS = ["bitcoin", "ethereum", "tether", "solana", "xrp"]


@dataclass(frozen=True)
class Loaded:
    """Where the fixture data lives, as the dashboard's environment names it."""

    pg_url: str
    schema: str
    mongo_uri: str
    latest: date  # the latest loaded day (yesterday, UTC)
    days: int
    coins: tuple[str, ...]

    def env(self, budget: str = "2500") -> dict[str, str]:
        return {
            "DATABASE_URL": self.pg_url,
            "CRIPTOPIPE_PG_SCHEMA": self.schema,
            "MONGODB_URI": self.mongo_uri,
            "COINCAP_CREDIT_BUDGET": budget,
        }


def mongo_uri_for(mongo_url: str, database: str) -> str:
    return f"{mongo_url.rsplit('/', 1)[0]}/{database}"


def load_through_pipeline(
    pg_url: str,
    schema: str,
    mongo_uri: str,
    coins: list[str],
    days: int,
    with_checks: bool = True,
    with_exchanges: bool = False,
) -> Loaded:
    """`days` of asset_history as one range run (plus its checks), then the latest day's
    raw_assets and market_snapshots, from a sandbox with enough coins for `coins`; with
    `with_exchanges`, then the same days of exchange_candles and daily_prices from the
    exchange sandbox (the same synthetic coins)."""
    from criptopipe.defs.assets.coincap import asset_history, market_snapshots, raw_assets
    from criptopipe.defs.assets.derived import daily_prices
    from criptopipe.defs.assets.exchanges import exchange_candles
    from criptopipe.defs.checks import quality_checks
    from criptopipe.sources.exchanges.sandbox import ExchangeSandbox

    latest = datetime.now(timezone.utc).date() - timedelta(days=1)
    universe = max(60, len(coins) + 20)
    with (
        SandboxServer(port=0, key="test", coins=universe) as sb,
        ExchangeSandbox(port=0, coins=universe) as xsb,
    ):
        urls = xsb.urls if with_exchanges else None
        resources = pipeline_resources(pg_url, schema, mongo_uri, sb.base_url, coins, urls)
        selection: dg.AssetSelection = dg.AssetSelection.assets(asset_history)
        if with_checks:
            selection = selection | dg.AssetSelection.checks_for_assets(asset_history)
        dg.materialize(
            [asset_history, *quality_checks] if with_checks else [asset_history],
            selection=selection,
            resources=resources,
            tags={
                "dagster/asset_partition_range_start": str(latest - timedelta(days=days - 1)),
                "dagster/asset_partition_range_end": str(latest),
            },
        )
        dg.materialize(
            [raw_assets, market_snapshots], partition_key=str(latest), resources=resources
        )
        if with_exchanges:
            dg.materialize(
                [asset_history, exchange_candles, daily_prices],  # history read, not rebuilt
                selection=[exchange_candles, daily_prices],
                resources=resources,
                tags={
                    "dagster/asset_partition_range_start": str(latest - timedelta(days=days - 1)),
                    "dagster/asset_partition_range_end": str(latest),
                },
            )
    return Loaded(pg_url, schema, mongo_uri, latest, days, tuple(coins))


#: a failed run the writer records, which creates the ops-log tables after the reader role exists
PROBE_FAILURE = ops_log.RunFailure(
    run_id="probe-run", job_name="daily_job", asset="asset_history", partition_key=None, error="x"
)


def assert_dashboard_reads_but_cannot_write(src: queries.Sources) -> None:
    """Through the dashboard's own connection: every table of the schema reads (those the
    writer created after the role too); and with its transaction switched to READ WRITE (all
    a read-only transaction asks), the server still refuses each write: permission denied."""
    found = queries.tables(src)
    assert {"asset_history", "raw_assets", "run_failures"} <= found, found
    for name in found:
        read(src, sql.SQL("SELECT count(*) FROM {}").format(table(src, name)))
    assert list(queries.run_failures(src)["run_id"]) == [PROBE_FAILURE.run_id]
    failures = table(src, "run_failures")
    for write in (
        sql.SQL("CREATE TABLE {} (id int)").format(table(src, "dashboard_probe")),
        sql.SQL("INSERT INTO {} (run_id, job_name, error) VALUES ('r', 'j', 'e')").format(failures),
        sql.SQL("UPDATE {} SET error = 'e'").format(failures),
        sql.SQL("DELETE FROM {}").format(table(src, "asset_history")),
        sql.SQL("CREATE TEMP TABLE dashboard_probe (id int)"),
    ):
        with connect(src) as conn:
            conn.execute("SET TRANSACTION READ WRITE")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(write)


@contextmanager
def throwaway_names(pg_url: str, mongo_url: str) -> Iterator[tuple[str, str]]:
    """A schema and a database for data shared by several tests; dropped afterwards."""
    name = f"dash_{uuid.uuid4().hex[:10]}"
    try:
        yield name, mongo_uri_for(mongo_url, name)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
        client: pymongo.MongoClient = pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=5000)
        try:
            client.drop_database(name)
        finally:
            client.close()


APP = Path(__file__).resolve().parents[2] / "criptopipe" / "dashboard" / "app.py"

#: page -> (text that appears once its data is in, Plotly charts it draws, tables it draws at
#: least)
PAGE_MARKERS = {
    "Market": ("BTC dominance", 0, 3),
    "Coin": ("Latest raw CoinCap document", 3, 0),
    "Exchanges": ("Largest exchange", 1, 1),
    "Pipeline health": ("Credits this month", 2, 4),
}


@contextmanager
def streamlit_server(loaded: Loaded, budget: str = "2500") -> Iterator[str]:
    """`streamlit run app.py` as `make dashboard` starts it, on a free port; yields its URL."""
    env = {**os.environ, **loaded.env(budget)}
    env.pop("DASHBOARD_DATABASE_URL", None)
    env.pop("DASHBOARD_MONGODB_URI", None)
    with serve_app(APP, env) as url:
        yield url


@contextmanager
def serve_app(app: Path, env: dict[str, str]) -> Iterator[str]:
    """`streamlit run <app>` headless on a free port until it answers; yields its URL."""
    from criptopipe.local.ports import free_port

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(app),
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("streamlit did not start within 60s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def wait_until_drawn(browser: Any, page_name: str, timeout_ms: int = 30_000) -> None:
    """Until the page's data is on screen, every Plotly chart has drawn (two svg layers) and
    every table its canvas."""
    marker, charts, tables = PAGE_MARKERS[page_name]
    browser.get_by_text(marker).first.wait_for(timeout=timeout_ms)
    browser.wait_for_function(
        """([charts, tables]) =>
            document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2 * charts
            && document.querySelectorAll('[data-testid="stDataFrame"] canvas').length >= tables""",
        arg=[charts, tables],
        timeout=timeout_ms,
    )
