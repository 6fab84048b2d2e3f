"""The dashboard in headless Chromium: `streamlit run` as users start it, every page visited
through the sidebar, its data and charts on screen, no JavaScript error, and a screenshot
(docs/img/dashboard-<page>.png with CRIPTOPIPE_SCREENSHOTS=1, for the README)."""

from __future__ import annotations

from pathlib import Path

from criptopipe_tests.dashboard.fixtures import (
    COINS,
    PAGE_MARKERS,
    load_through_pipeline,
    mongo_uri_for,
    streamlit_server,
    wait_until_drawn,
)
from criptopipe_tests.e2e.browser import page, shot_path


def test_every_page_renders_in_chromium(
    pg_url: str, pg_schema: str, mongo_url: str, mongo_db: str, tmp_path: Path
) -> None:
    loaded = load_through_pipeline(pg_url, pg_schema, mongo_uri_for(mongo_url, mongo_db), COINS, 60)
    with streamlit_server(loaded) as url, page(height=1600) as browser:
        errors: list[str] = []
        browser.on("pageerror", lambda exc: errors.append(str(exc)))
        browser.goto(f"{url}/", wait_until="networkidle")
        for name in PAGE_MARKERS:
            browser.get_by_text(name, exact=True).first.click()
            wait_until_drawn(browser, name)
            browser.wait_for_timeout(800)  # let Plotly finish its transitions for the picture
            text = browser.inner_text("body")
            assert "Traceback" not in text and "make run" not in text
            assert not errors, f"{name}: JavaScript errors {errors}"  # e.g. plotly.js
            assert f"?page={name.replace(' ', '+')}" in browser.url  # deep link kept in step
            if name == "Market":
                assert "Coins tracked" in text and "\n5\n" in text
            if name == "Pipeline health":
                assert "/ 2,500" in text
            slug = name.lower().replace(" ", "-")
            browser.screenshot(path=str(shot_path(f"dashboard-{slug}", tmp_path)), full_page=True)
