"""`make dev` (webserver + daemon on the project's dagster.yaml) in headless Chromium: the asset
graph, a partition-range backfill launched through GraphQL and run by the daemon, the
partitions view and the checks -- captured as the README's screenshots, and the backfill's page
while it runs as the frames of its GIF (docs/img/ui-backfill.gif with CRIPTOPIPE_GIFS=1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from criptopipe.local.ports import free_port
from criptopipe.sources.coincap.sandbox import SandboxServer
from criptopipe_tests.e2e import dagster_ui as ui
from criptopipe_tests.e2e.browser import ROOT, page, shot_path
from criptopipe_tests.e2e.recording import Recording, assert_animated

CHECK_EXECUTIONS = """
query Checks($asset: AssetKeyInput!, $name: String!) {
  assetCheckExecutions(assetKey: $asset, checkName: $name, limit: 1) {
    runId status evaluation { success }
  }
}
"""
QUALITY_CHECKS = [
    "no_duplicate_keys",
    "stores_agree",
    "valid_prices",
    "complete_days",
    "price_jumps",
]


def test_make_dev_ui_backfill_and_screenshots(
    servers: dict[str, str], pg_schema: str, mongo_db: str, tmp_path: Path
) -> None:
    port = free_port()
    with SandboxServer(port=0, key="test", coins=30) as sb:
        env = {
            **os.environ,
            **ui.instance_env(servers, tmp_path / "home", ROOT / "dagster.yaml"),
            "DATABASE_URL": servers["postgres"],
            "MONGODB_URI": f"{servers['mongo'].rsplit('/', 1)[0]}/{mongo_db}",
            "CRIPTOPIPE_PG_SCHEMA": pg_schema,
            "COINCAP_BASE_URL": sb.base_url,
            "COINCAP_API_KEY": "test",
            "CRIPTOPIPE_COINS": "bitcoin,ethereum,solana",
        }
        # what `make dev` runs (criptopipe.cli dev -> dagster dev -w workspace.yaml)
        proc = subprocess.Popen(
            [sys.executable, "-m", "criptopipe.cli", "dev", "--port", str(port)],
            env=env,
            cwd=str(ROOT),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            ui.wait_http(f"{base}/server_info", proc)
            backfill = ui.launch_backfill(base, "asset_history", "2024-02-01", "2024-02-29")
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
            history = [r for r in sb.stats()["requests"] if "/history" in r["path"]]
            assert len(history) == 3  # one ranged request per coin
            # the checks ran in that same run, after the asset, and passed
            (run_id,) = [r["runId"] for r in done["runs"]]
            for name in QUALITY_CHECKS:
                (execution,) = ui.graphql(
                    base, CHECK_EXECUTIONS, {"asset": {"path": ["asset_history"]}, "name": name}
                )["assetCheckExecutions"]
                assert execution["runId"] == run_id, name
                assert execution["status"] == "SUCCEEDED" and execution["evaluation"]["success"]
            with page() as browser:
                for name, path, marker in [
                    ("ui-asset-graph", "/asset-groups/coincap", "asset_history"),
                    ("ui-partitions", "/assets/asset_history?view=partitions", "Partitions"),
                    ("ui-checks", "/assets/asset_history?view=checks", "stores_agree"),
                ]:
                    browser.goto(f"{base}{path}", wait_until="networkidle")
                    browser.wait_for_timeout(1000)
                    skip = browser.get_by_role("button", name="Skip")  # the newsletter prompt
                    if skip.count():
                        skip.first.click()
                    browser.get_by_text(marker).first.wait_for(timeout=60_000)
                    browser.wait_for_timeout(2000)
                    browser.screenshot(path=str(shot_path(name, tmp_path)))
        finally:
            ui.stop(proc)
