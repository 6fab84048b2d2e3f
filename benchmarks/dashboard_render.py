"""Dashboard first full load per page with a year of history for 100 coins.

Loads 365 days x 100 coins (+ the latest snapshots, the checks and the credit ledger) through the
pipeline (sandbox -> client -> transform -> IO manager -> both stores), then for each page:

- Chromium, the figure the README gives: a real `streamlit run` server and headless Chromium,
  from navigation (`goto`) to the page's data on screen, every Plotly chart drawn and every
  table's canvas painted, read as `performance.now()` in the page (time since navigation
  started). Cold: a first visit, a new server and a fresh browser profile (every query hits
  PostgreSQL/MongoDB, every script is fetched and compiled); warm: the same browser loads the
  page again in a new session (the queries cached for a minute, the scripts in the browser's
  cache). Each is the median of --repeat pairs, a new server and profile per pair.
- AppTest: `AppTest.run()` of the page (the whole script, as Streamlit runs it), cold and
  warm: the server's share of the load.
- The floor: the same Chromium measure of a one-line Streamlit page with one three-point Plotly
  chart (no data, no query), what Streamlit and Plotly cost on this machine before any of ours.

    python benchmarks/dashboard_render.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAYS, COINS = 365, 100
TARGET_S = 2.0


def full_load(browser: Any, url: str, name: str) -> float:
    """Seconds from navigation to the page fully drawn."""
    from criptopipe_tests.dashboard.fixtures import wait_until_drawn

    browser.goto(f"{url}/?page={name.replace(' ', '+')}", wait_until="commit")
    wait_until_drawn(browser, name, timeout_ms=60_000)
    return float(browser.evaluate("performance.now()")) / 1000


FLOOR_APP = """import plotly.graph_objects as go
import streamlit as st
st.write("floor marker")
st.plotly_chart(go.Figure(go.Scatter(x=[1, 2, 3], y=[1, 3, 2])))
"""


def floor(repeat: int, folder: Path) -> tuple[list[float], list[float]]:
    """Cold and warm loads of the one-chart page (the floor), as `full_load` measures."""
    from criptopipe_tests.dashboard.fixtures import serve_app
    from criptopipe_tests.e2e.browser import page

    app = folder / "floor_app.py"
    app.write_text(FLOOR_APP)
    cold: list[float] = []
    warm: list[float] = []
    for _ in range(repeat):
        with serve_app(app, dict(os.environ)) as url, page(height=1600) as browser:
            for into in (cold, warm):
                browser.goto(url, wait_until="commit")
                browser.get_by_text("floor marker").first.wait_for(timeout=60_000)
                browser.wait_for_function(
                    "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2",
                    timeout=60_000,
                )
                into.append(float(browser.evaluate("performance.now()")) / 1000)
    return cold, warm


def apptest(name: str, app: Path) -> tuple[float, float]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_data.clear()
    times = []
    for _ in range(2):  # cold (empty cache), then warm
        at = AppTest.from_file(str(app), default_timeout=120)
        at.query_params["page"] = name
        t0 = time.monotonic()
        at.run()
        times.append(time.monotonic() - t0)
        assert not at.exception, at.exception
        assert at.sidebar.radio[0].value == name and not at.info, "page did not render"
    return times[0], times[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="loads per page and state")
    args = parser.parse_args()

    from criptopipe.sources.coincap.sandbox import SandboxServer
    from criptopipe_tests.dashboard.fixtures import (
        APP,
        PAGE_MARKERS,
        load_through_pipeline,
        streamlit_server,
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

        server: dict[str, tuple[float, float]] = {n: apptest(n, APP) for n in PAGE_MARKERS}
        chromium: dict[str, tuple[list[float], list[float]]] = {}
        for name in PAGE_MARKERS:
            cold: list[float] = []
            warm: list[float] = []
            for _ in range(args.repeat):
                # a new server and a fresh profile: nothing cached anywhere
                with streamlit_server(loaded) as url, page(height=1600) as browser:
                    cold.append(full_load(browser, url, name))
                    warm.append(full_load(browser, url, name))
            chromium[name] = (cold, warm)
        base_cold, base_warm = floor(args.repeat, tmp)

        print(
            f"\nfirst full load in headless Chromium, navigation to the last chart drawn "
            f"(median of {args.repeat}; target {TARGET_S:.0f} s)"
        )
        print(f"{'page':<16} {'cold':>7} {'warm':>7}   {'AppTest cold':>12} {'warm':>6}  all loads")
        worst = 0.0
        for name in PAGE_MARKERS:
            cold, warm = chromium[name]
            c, w = statistics.median(cold), statistics.median(warm)
            worst = max(worst, c, w)
            a = server[name]
            every = " ".join(f"{t:.2f}" for t in cold + warm)
            print(f"{name:<16} {c:>6.2f}s {w:>6.2f}s   {a[0]:>11.2f}s {a[1]:>5.2f}s  {every}")
        every = " ".join(f"{t:.2f}" for t in base_cold + base_warm)
        print(
            f"{'floor (1 chart)':<16} {statistics.median(base_cold):>6.2f}s "
            f"{statistics.median(base_warm):>6.2f}s   {'':>12} {'':>6}  {every}"
        )
        print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()} on {os.cpu_count()} CPUs")
        print(f"slowest median: {worst:.2f}s ({'under' if worst < TARGET_S else 'OVER'} target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
