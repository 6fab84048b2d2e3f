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
        print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()} on {os.cpu_count()} CPUs")
        print(f"slowest median: {worst:.2f}s ({'under' if worst < TARGET_S else 'OVER'} target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
