"""The Dagster UI after `make run`, in headless Chromium: `make dev`'s server on the session's
`make run` project (a clean environment, the project's `.env`), a partition-range backfill
launched through the UI's GraphQL API and run by the daemon as one run, then the rendered pages:
lineage from CoinCap, every check's latest result (never Skipped), partitions that exist, the
catalog's row count and columns -- captured as the README's screenshots, and the backfill's
page while it runs as the frames of its GIF (docs/img/ui-backfill.gif with CRIPTOPIPE_GIFS=1)."""

from __future__ import annotations

import subprocess
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from criptopipe.datasets import ASSET_HISTORY
from criptopipe.local.ports import free_port
from criptopipe_tests.e2e import dagster_ui as ui
from criptopipe_tests.e2e.browser import page, shot_path
from criptopipe_tests.e2e.made import MadeProject
from criptopipe_tests.e2e.recording import Recording, assert_animated

CHECK_EXECUTIONS = """
query Checks($asset: AssetKeyInput!, $name: String!) {
  assetCheckExecutions(assetKey: $asset, checkName: $name, limit: 1) {
    runId status partition evaluation { success }
  }
}
"""
CHECKS = {
    "asset_history": [
        "complete_days",
        "empty_answers",
        "no_duplicate_keys",
        "price_jumps",
        "stores_agree",
        "valid_prices",
    ],
    "raw_assets": ["no_duplicate_keys", "stores_agree", "valid_prices"],
    "market_snapshots": [
        "empty_answers",
        "no_duplicate_keys",
        "stores_agree",
        "valid_prices",
        "volume_shares",
    ],
    "exchange_candles": ["empty_answers", "no_duplicate_keys", "stores_agree", "valid_prices"],
    "daily_prices": ["no_duplicate_keys", "sources_agree", "stores_agree", "valid_prices"],
}
LINEAGE = {
    ("coincap_assets", "raw_assets"),
    ("coincap_assets", "asset_history"),
    ("coincap_assets", "market_snapshots"),
    ("coincap_history", "asset_history"),
    ("coincap_markets", "market_snapshots"),
    ("exchanges_ohlcv", "exchange_candles"),
    ("raw_assets", "exchange_candles"),  # the coins' symbols, from the newest snapshot
    ("asset_history", "daily_prices"),
    ("exchange_candles", "daily_prices"),
}


def _open(browser: Any, url: str, marker: str) -> str:
    browser.goto(url, wait_until="networkidle")
    browser.wait_for_timeout(1000)
    skip = browser.get_by_role("button", name="Skip")  # the newsletter prompt
    if skip.count():
        skip.first.click()
    browser.get_by_text(marker).first.wait_for(timeout=60_000)
    browser.wait_for_timeout(2500)  # let statuses and counts arrive
    return str(browser.inner_text("body"))


def _days(first: date, last: date) -> str:
    return f"{(last - first).days + 1:,} Partitions Selected"


def test_the_ui_after_make_run(made: MadeProject, tmp_path: Path) -> None:
    assert made.run.returncode == 0, "make run failed: see test_readme_commands"
    local = made.dotenv()
    sandbox = local["COINCAP_BASE_URL"].rsplit("/v3", 1)[0]
    port = free_port()
    # what `make dev` runs, in a fresh shell of the project folder
    proc = subprocess.Popen(
        [str(made.root / ".venv/bin/python"), "-m", "criptopipe.cli", "dev", "--port", str(port)],
        env=made.env,
        cwd=made.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        ui.wait_http(f"{base}/server_info", proc)
        httpx.post(f"{sandbox}/__admin/reset", timeout=10)
        backfill = ui.launch_backfill(base, "asset_history", "2024-04-01", "2024-04-30")
        # the README's GIF: the backfill's page in the UI while it runs (recording.py)
        gif = Recording("ui-backfill", tmp_path)
        with page() as watching:

            def frame(hold_ms: int = 700) -> None:
                skip = watching.get_by_role("button", name="Skip")  # the newsletter prompt
                if skip.count():
                    skip.first.click()
                gif.frame(watching, hold_ms=hold_ms)

            watching.goto(f"{base}/runs/b/{backfill}", wait_until="networkidle")
            done = ui.wait_backfill(base, backfill, each=frame)
            watching.reload(wait_until="networkidle")
            watching.get_by_text("asset_history").first.wait_for(timeout=60_000)
            watching.wait_for_timeout(1500)
            frame(hold_ms=4000)  # the finished backfill
        assert_animated(gif.save(), frames=len(gif.frames))
        assert done["status"] == "COMPLETED_SUCCESS", done
        assert [r["status"] for r in done["runs"]] == ["SUCCESS"]  # one run for the range
        requests = httpx.get(f"{sandbox}/__admin/stats", timeout=10).json()["requests"]
        assert len([r for r in requests if "/history" in r["path"]]) == 10  # one per coin
        # every check ran in that run and reported its days: none planned and left behind
        (run_id,) = [r["runId"] for r in done["runs"]]
        for name in CHECKS["asset_history"]:
            (execution,) = ui.graphql(
                base, CHECK_EXECUTIONS, {"asset": {"path": ["asset_history"]}, "name": name}
            )["assetCheckExecutions"]
            assert execution["runId"] == run_id, name
            assert execution["status"] in {"SUCCEEDED", "FAILED"}, (name, execution)
            assert execution["partition"] and execution["partition"].startswith("2024-04-")

        latest = datetime.now(timezone.utc).date() - timedelta(days=1)
        snapshot_start = date.fromisoformat(local["CRIPTOPIPE_SNAPSHOT_START"])
        with psycopg.connect(local["DATABASE_URL"]) as conn:
            (history_rows,) = conn.execute(  # type: ignore[misc]
                sql.SQL("SELECT count(*) FROM {}").format(
                    sql.Identifier("coincap", "asset_history")
                )
            ).fetchone()

        with page(height=1100) as browser:
            # lineage: an arrow from each source to each asset that reads it, and between the
            # assets where one reads another's data; no other
            _open(browser, f"{base}/asset-groups", "coincap")
            ui.expand_all_groups(browser)
            browser.get_by_text("coincap_markets").first.wait_for(timeout=60_000)
            browser.wait_for_timeout(2000)
            assert ui.rendered_edges(browser) == LINEAGE
            browser.screenshot(path=str(shot_path("ui-asset-graph", tmp_path)))

            # every check of every asset shows its latest result, never "Skipped"
            for asset, names in CHECKS.items():
                text = _open(browser, f"{base}/assets/{asset}?view=checks", names[-1])
                assert "Skipped" not in text, asset
                verdicts = sum(text.count(w) for w in ("Succeeded", "Failed", "Warning"))
                assert verdicts >= len(names), asset
                if asset == "asset_history":
                    browser.screenshot(path=str(shot_path("ui-checks", tmp_path)))

            # partitions: the days that exist -- since CoinCap's history, since the archive
            text = _open(browser, f"{base}/assets/raw_assets?view=partitions", "Partitions")
            assert _days(snapshot_start, latest) in text
            assert "Missing (0)" in text  # every snapshot day offered can be (and was) filled
            text = _open(browser, f"{base}/assets/market_snapshots?view=partitions", "Partitions")
            assert _days(snapshot_start, latest) in text
            text = _open(browser, f"{base}/assets/asset_history?view=partitions", "Partitions")
            assert _days(date(2013, 1, 1), latest) in text
            browser.screenshot(path=str(shot_path("ui-partitions", tmp_path)))

            # the catalog: the table's row count and its columns with their descriptions
            text = _open(browser, f"{base}/assets/asset_history?view=overview", "Columns")
            assert f"Row count\n{history_rows:,}" in text
            for column in ASSET_HISTORY.columns:
                assert column.name in text
                assert not column.description or column.description in text
            browser.screenshot(path=str(shot_path("ui-catalog", tmp_path)), full_page=True)
    finally:
        ui.stop(proc)
