"""The dashboard in headless Chromium: `streamlit run` as users start it, every page visited
through the sidebar, its data, labels and charts on screen as a reader sees them (no time of day
on a day axis, legends that fit, each price named), no JavaScript error, a screenshot
(docs/img/dashboard-<page>.png with CRIPTOPIPE_SCREENSHOTS=1) and the frames of the README's
dashboard GIF (docs/img/dashboard.gif with CRIPTOPIPE_GIFS=1). Once on 60 days of data, once on
the one day a first `make run` of a fresh month may leave."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from criptopipe_tests.dashboard.fixtures import (
    COINS,
    PAGE_MARKERS,
    load_through_pipeline,
    mongo_uri_for,
    streamlit_server,
    wait_until_drawn,
)
from criptopipe_tests.e2e.browser import page, shot_path
from criptopipe_tests.e2e.recording import Recording, assert_animated

#: page -> what a reader must find on it (labels and what each figure is)
READS = {
    "Market": ["Coins tracked", "fetched", "Top gainers (24h)"],
    "Coin": ["d1 avg price", "Snapshot price", "CoinCap d1", "Circulating supply by day"],
    "Exchanges": ["Largest exchange", "Share of 24h volume by exchange", "fetched"],
    "Pipeline health": [
        "CoinCap credits this month",
        "0 / 2,500",  # the fixture spent sandbox credits only: none count against the budget
        "Sandbox credits this month",
        "Credits this month, per CoinCap URL",
        "Recent CoinCap fetches (credit ledger)",
    ],
}
TIME_OF_DAY = re.compile(r"\d\d:\d\d")


def x_tick_labels(browser: Any) -> list[str]:
    return browser.eval_on_selector_all(
        ".js-plotly-plot .xtick text", "nodes => nodes.map(n => n.textContent)"
    )


def legends_fit(browser: Any) -> None:
    """Every legend shows all its entries inside its chart: none scrolled away or clipped."""
    charts = browser.eval_on_selector_all(
        ".js-plotly-plot",
        """plots => plots.map(p => {
            const box = p.getBoundingClientRect();
            const items = [...p.querySelectorAll('.legend .traces')].map(
                t => t.getBoundingClientRect());
            return {
              traces: (p.data || []).filter(t => t.showlegend !== false).length,
              shown: p.layout.showlegend,
              items: items.map(r => [r.left, r.top, r.right, r.bottom]),
              box: [box.left, box.top, box.right, box.bottom],
            };
        })""",
    )
    for chart in charts:
        if not chart["items"]:
            continue
        assert len(chart["items"]) == chart["traces"], chart
        left, top, right, bottom = chart["box"]
        for x0, y0, x1, y1 in chart["items"]:
            assert left <= x0 and x1 <= right + 1 and top <= y0 and y1 <= bottom + 1, chart


@pytest.mark.parametrize("days", [60, 1])
def test_every_page_reads_right_in_chromium(
    days: int, pg_url: str, pg_schema: str, mongo_url: str, mongo_db: str, tmp_path: Path
) -> None:
    loaded = load_through_pipeline(
        pg_url,
        pg_schema,
        mongo_uri_for(mongo_url, mongo_db),
        COINS,
        days,
        with_checks=days > 1,
        with_exchanges=days > 1,  # the Coin page's candlesticks and sources-agree panel
    )
    gif = Recording("dashboard", tmp_path)
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
            for words in READS[name]:
                assert words in text, f"{name}: {words!r} is not on the page"
            if name == "Market":
                assert "\n5\n" in text  # coins tracked
            if name == "Coin" and days > 1:
                assert "Exchange candles" in text and "Sources agree" in text
                assert "No exchange candles" not in text
            ticks = x_tick_labels(browser)
            assert ticks or not PAGE_MARKERS[name][1], f"{name}: no chart axis drawn"
            assert not [t for t in ticks if TIME_OF_DAY.search(t)], f"{name}: {ticks}"
            legends_fit(browser)
            slug = name.lower().replace(" ", "-")
            if days > 1:
                browser.screenshot(
                    path=str(shot_path(f"dashboard-{slug}", tmp_path)), full_page=True
                )
                gif.frame(browser, hold_ms=2500)
    if days > 1:
        assert_animated(gif.save(), frames=len(PAGE_MARKERS))
