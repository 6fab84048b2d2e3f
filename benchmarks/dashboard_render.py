"""Dashboard render time per page with a year of history for 100 coins.

Loads 365 days x 100 coins (+ the latest snapshots and the checks) through the pipeline
(sandbox -> assets -> both stores), then renders each page with Streamlit's AppTest, cold
(empty cache) and warm (cached), and prints the seconds.

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

PAGES = ["Market", "Coin", "Exchanges", "Pipeline health"]


def main() -> int:
    from streamlit.testing.v1 import AppTest

    from criptopipe.devservers import throwaway_servers
    from criptopipe.sandbox import SandboxServer
    from criptopipe_tests.integration.test_dashboard import load_through_pipeline

    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="criptopipe-dash-"))
        tmp.chmod(0o755)
        stack.callback(shutil.rmtree, tmp, True)
        pg, mongo = stack.enter_context(throwaway_servers(tmp / "servers"))
        with SandboxServer(port=0, key="test", coins=120) as sb:
            coins = (
                sb.universe.ids
                if hasattr(sb.universe, "ids")
                else [c.id for c in sb.universe.coins]
            )
        os.environ["COINCAP_CREDIT_BUDGET"] = "off"  # a year x 100 coins plus snapshots > free tier
        started = time.monotonic()
        load_through_pipeline(pg.url(), "coincap", mongo.url(), list(coins[:100]), 365)
        print(
            f"loaded 365 days x 100 coins through the pipeline in {time.monotonic() - started:.0f}s"
        )
        os.environ.update(
            DATABASE_URL=pg.url(), MONGODB_URI=mongo.url(), CRIPTOPIPE_PG_SCHEMA="coincap"
        )
        app = str(ROOT / "criptopipe" / "dashboard" / "app.py")
        print(f"{'page':<18} {'cold s':>7} {'warm s':>7}")
        for page in PAGES:
            times = []
            for _ in range(2):  # cold (empty cache), then warm
                at = AppTest.from_file(app, default_timeout=120)
                at.query_params["page"] = page
                t0 = time.monotonic()
                at.run()
                times.append(time.monotonic() - t0)
                assert not at.exception, at.exception
                assert at.sidebar.radio[0].value == page
            print(f"{page:<18} {times[0]:>7.2f} {times[1]:>7.2f}")
            from streamlit.runtime.caching import cache_data_api

            cache_data_api.CacheDataAPI.clear(__import__("streamlit").cache_data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
