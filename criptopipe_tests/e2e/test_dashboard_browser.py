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
from criptopipe_tests.integration.dashboard_fixtures import (
    COINS,
    load_through_pipeline,
    mongo_uri_for,
)

#: page -> (text that appears once its data is in, Plotly charts it draws)
PAGES = {
    "Market": ("BTC dominance", 0),
    "Coin": ("Latest raw CoinCap document", 3),
    "Exchanges": ("Largest exchange", 1),
    "Pipeline health": ("Credits this month", 2),
}


def test_every_page_renders_in_chromium(
    pg_url: str, pg_schema: str, mongo_url: str, mongo_db: str, tmp_path: Path
) -> None:
    loaded = load_through_pipeline(pg_url, pg_schema, mongo_uri_for(mongo_url, mongo_db), COINS, 60)
    port = free_port()
    env = {**os.environ, **loaded.env()}
    env.pop("DASHBOARD_DATABASE_URL", None)
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
        with page(height=1600) as browser:
            errors: list[str] = []
            browser.on("pageerror", lambda exc: errors.append(str(exc)))
            browser.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
            for name, (marker, charts) in PAGES.items():
                browser.get_by_text(name, exact=True).first.click()
                browser.get_by_text(marker).first.wait_for(timeout=30_000)
                browser.wait_for_function(  # every chart drawn (two svg layers each)
                    "n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2 * n",
                    arg=charts,
                    timeout=30_000,
                )
                browser.wait_for_timeout(800)
                text = browser.inner_text("body")
                assert "Traceback" not in text and "make run" not in text
                assert not errors, f"{name}: JavaScript errors {errors}"  # e.g. plotly.js
                assert f"?page={name.replace(' ', '+')}" in browser.url
                slug = name.lower().replace(" ", "-")
                browser.screenshot(
                    path=str(shot_path(f"dashboard-{slug}", tmp_path)), full_page=True
                )
    finally:
        proc.terminate()
        proc.wait(timeout=20)
