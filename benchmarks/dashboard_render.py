"""Dashboard render time per page with a year of history for 100 coins.

Loads 365 days x 100 coins (+ the latest snapshots, the checks and the credit ledger) through the
pipeline (sandbox -> client -> transform -> IO manager -> both stores), then times each page:

- AppTest: `AppTest.run()` of the page (the whole script, as Streamlit runs it), cold (empty
  cache: every query hits PostgreSQL/MongoDB) and warm (cached, what a widget click costs);
- Chromium: a real `streamlit run` server and headless Chromium, from the sidebar click to the
  page's data on screen and every Plotly chart drawn, cold (first visit after the server
  started) and warm (second visit), and a full page load (Streamlit's frontend and plotly.js
  fetched and parsed again, the data cached). The one-off plotly.js load of a browser session's
  first chart is printed apart.

    python benchmarks/dashboard_render.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAYS, COINS = 365, 100


def main() -> int:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from criptopipe.sources.coincap.sandbox import SandboxServer
    from criptopipe_tests.dashboard.fixtures import (
        APP,
        PAGE_MARKERS,
        load_through_pipeline,
        streamlit_server,
        wait_until_drawn,
    )
    from criptopipe_tests.e2e.browser import page
    from criptopipe_tests.servers import throwaway_servers

    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="criptopipe-dash-"))
        tmp.chmod(0o755)  # the `postgres` user must be able to enter it
        stack.callback(shutil.rmtree, tmp, True)
        pg, mongo = stack.enter_context(throwaway_servers(tmp / "servers"))
        with SandboxServer(port=0, key="test", coins=COINS + 20) as sb:
            coins = sb.universe.ids[:COINS]
        os.environ["COINCAP_CREDIT_BUDGET"] = "off"  # a year x 100 coins is past the free tier
        started = time.monotonic()
        loaded = load_through_pipeline(pg.url(), "coincap", mongo.url(), coins, DAYS)
        print(
            f"loaded {DAYS} days x {COINS} coins through the pipeline in "
            f"{time.monotonic() - started:.0f}s"
        )
        os.environ.update(loaded.env(budget="2500"))
        os.environ.pop("DASHBOARD_DATABASE_URL", None)

        apptest: dict[str, tuple[float, float]] = {}
        for name in PAGE_MARKERS:
            st.cache_data.clear()
            times = []
            for _ in range(2):  # cold (empty cache), then warm
                at = AppTest.from_file(str(APP), default_timeout=120)
                at.query_params["page"] = name
                t0 = time.monotonic()
                at.run()
                times.append(time.monotonic() - t0)
                assert not at.exception, at.exception
                assert at.sidebar.radio[0].value == name and not at.info, "page did not render"
            apptest[name] = (times[0], times[1])

        # Streamlit loads plotly.js (a few MB) when a session draws its first chart: timed
        # apart, by first visiting a chart page whose queries the measured page does not share.
        primer = {"Market": "Exchanges", "Coin": "Exchanges", "Exchanges": "Coin"}
        chromium: dict[str, tuple[float, float, float]] = {}
        first_chart: list[float] = []
        for name in PAGE_MARKERS:
            with streamlit_server(loaded) as url, page(height=1600) as browser:
                browser.goto(f"{url}/?page=Market", wait_until="networkidle")
                wait_until_drawn(browser, "Market")
                other = primer.get(name, "Exchanges")
                t0 = time.monotonic()
                browser.get_by_text(other, exact=True).first.click()
                wait_until_drawn(browser, other, timeout_ms=60_000)
                first_chart.append(time.monotonic() - t0)
                times = []
                for _ in range(2):  # from the sidebar: cold (queries not cached), then warm
                    # via Market, which draws no chart: no stale chart can satisfy the wait
                    browser.get_by_text("Market", exact=True).first.click()
                    wait_until_drawn(browser, "Market")
                    t0 = time.monotonic()
                    browser.get_by_text(name, exact=True).first.click()
                    wait_until_drawn(browser, name, timeout_ms=60_000)
                    times.append(time.monotonic() - t0)
                t0 = time.monotonic()  # a full page load: Streamlit's frontend and plotly.js too
                browser.goto(f"{url}/?page={name.replace(' ', '+')}")
                wait_until_drawn(browser, name, timeout_ms=60_000)
                chromium[name] = (times[0], times[1], time.monotonic() - t0)

        print(
            f"\n{'page':<16} {'AppTest cold':>12} {'warm':>6} {'Chromium cold':>14} {'warm':>6} "
            f"{'full load':>10}"
        )
        for name in PAGE_MARKERS:
            a, c = apptest[name], chromium[name]
            print(
                f"{name:<16} {a[0]:>11.2f}s {a[1]:>5.2f}s {c[0]:>13.2f}s {c[1]:>5.2f}s "
                f"{c[2]:>9.2f}s"
            )
        print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()} on {os.cpu_count()} CPUs")
        print(
            "first chart of a browser session (plotly.js loaded, a page's queries cold): "
            + ", ".join(f"{t:.2f}s" for t in first_chart)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
