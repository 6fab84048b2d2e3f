"""The dashboard in headless Chromium: `streamlit run` as users start it, every page captured."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from criptopipe.devservers import free_port
from criptopipe_tests.e2e.browser import ROOT, page, shot_path
from criptopipe_tests.integration.test_dashboard import COINS, load_through_pipeline

PAGES = {
    "Market": "BTC dominance",
    "Coin": "Latest raw CoinCap document",
    "Exchanges": "Largest exchange",
    "Pipeline health": "Credits this month",
}


def test_every_page_renders_in_chromium(
    pg_url: str, pg_schema: str, mongo_url: str, mongo_db: str, tmp_path: Path
) -> None:
    mongo_uri = f"{mongo_url.rsplit('/', 1)[0]}/{mongo_db}"
    load_through_pipeline(pg_url, pg_schema, mongo_uri, COINS, 60)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "CRIPTOPIPE_PG_SCHEMA": pg_schema,
        "MONGODB_URI": mongo_uri,
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "criptopipe/dashboard/app.py"),
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
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if (
                    httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status_code
                    == 200
                ):
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("streamlit did not start within 60s")
        with page() as browser:
            browser.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
            for name, marker in PAGES.items():
                browser.get_by_text(name, exact=True).first.click()
                browser.get_by_text(marker).first.wait_for(timeout=30_000)
                browser.wait_for_timeout(1500)  # let Plotly finish drawing
                assert "Traceback" not in browser.content()
                slug = name.lower().replace(" ", "-")
                browser.screenshot(
                    path=str(shot_path(f"dashboard-{slug}", tmp_path)), full_page=True
                )
    finally:
        proc.terminate()
        proc.wait(timeout=20)
