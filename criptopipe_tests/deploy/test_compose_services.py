"""The compose services' own commands, run natively (no Docker engine here): the user-code gRPC
server, the webserver and the daemon with deploy/dagster.yaml and deploy/workspace.yaml, against
the test PostgreSQL, the MongoDB wire server and the sandbox. A partitioned run submitted
through the webserver's GraphQL API is queued, dequeued by the daemon and succeeds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from criptopipe.local.ports import free_port
from criptopipe.sources.coincap.sandbox import SandboxServer
from criptopipe_tests.e2e import dagster_ui as ui
from criptopipe_tests.e2e.browser import ROOT

SERVICES = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
RUN = """query Run($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"""


def _command(service: str, replace: dict[str, str]) -> list[str]:
    return [replace.get(part, part) for part in SERVICES[service]["command"]]


def _compose_environment(service: str) -> dict[str, str]:
    """The service's environment as docker-compose resolves it with .env.example."""
    tool = shutil.which("docker-compose")
    assert tool, "docker-compose is missing: scripts/ensure-system-deps.sh installs it (apt)"
    res = subprocess.run(
        [tool, "--env-file", str(ROOT / ".env.example"), "-f", str(ROOT / "docker-compose.yml")]
        + ["config"],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        check=False,
    )
    assert res.returncode == 0, res.stderr
    env = yaml.safe_load(res.stdout)["services"][service]["environment"]
    return {key: str(value) for key, value in env.items()}


def _arg_after(cmd: list[str], flag: str) -> str:
    return cmd[cmd.index(flag) + 1]


def test_compose_commands_queue_and_run_a_partitioned_run(
    servers: dict[str, str], pg_schema: str, mongo_db: str, tmp_path: Path
) -> None:
    code_port, web_port = free_port(), free_port()
    workspace = yaml.safe_load((ROOT / "deploy/workspace.yaml").read_text())
    workspace["load_from"][0]["grpc_server"].update(host="127.0.0.1", port=code_port)
    local_workspace = tmp_path / "workspace.yaml"
    local_workspace.write_text(yaml.safe_dump(workspace))
    container_workspace = _arg_after(SERVICES["webserver"]["command"], "-w")
    replace = {
        "0.0.0.0": "127.0.0.1",
        _arg_after(SERVICES["code"]["command"], "-p"): str(code_port),
        _arg_after(SERVICES["webserver"]["command"], "-p"): str(web_port),
        container_workspace: str(local_workspace),
    }
    procs: list[subprocess.Popen[Any]] = []
    with SandboxServer(port=0, key="test", coins=20) as sb:
        env = {
            **os.environ,
            # what compose gives the containers (run queue size, budget, ...), then what is
            # host-specific: servers, schema, CoinCap stand-in, DAGSTER_HOME
            **_compose_environment("daemon"),
            **ui.instance_env(servers, tmp_path / "home", ROOT / "deploy/dagster.yaml"),
            "DATABASE_URL": servers["postgres"],
            "MONGODB_URI": f"{servers['mongo'].rsplit('/', 1)[0]}/{mongo_db}",
            "CRIPTOPIPE_PG_SCHEMA": pg_schema,
            "COINCAP_BASE_URL": sb.base_url,
            "COINCAP_API_KEY": "test",
            "CRIPTOPIPE_COINS": "bitcoin,ethereum",
            # the image has the console scripts on PATH; here they are in the venv's bin
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        assert env["DAGSTER_MAX_CONCURRENT_RUNS"] == "4"
        try:
            for service in ("code", "webserver", "daemon"):
                procs.append(
                    subprocess.Popen(
                        _command(service, replace),
                        env=env,
                        cwd=str(tmp_path),
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
                if service == "code":
                    deadline = time.monotonic() + 120
                    while (
                        subprocess.run(
                            ["dagster", "api", "grpc-health-check", "-p", str(code_port)],
                            capture_output=True,
                            env=env,
                        ).returncode
                        != 0
                    ):
                        assert time.monotonic() < deadline, "code server not healthy in 120s"
                        time.sleep(1)
            base = f"http://127.0.0.1:{web_port}"
            ui.wait_http(f"{base}/server_info", procs[1])
            params = {
                "selector": {
                    "repositoryLocationName": "criptopipe",
                    "repositoryName": "__repository__",
                    "jobName": "asset_history_job",
                },
                "executionMetadata": {
                    "tags": [{"key": "dagster/partition", "value": "2024-02-01"}]
                },
                "runConfigData": {},
            }
            launched = ui.graphql(base, LAUNCH_RUN, {"params": params})["launchRun"]
            assert launched["__typename"] == "LaunchRunSuccess", launched
            assert launched["run"]["status"] == "QUEUED"  # the queued coordinator holds it
            run_id = launched["run"]["runId"]
            deadline = time.monotonic() + 240
            status = "QUEUED"
            while time.monotonic() < deadline and status not in {"SUCCESS", "FAILURE", "CANCELED"}:
                time.sleep(2)
                status = ui.graphql(base, RUN, {"id": run_id})["runOrError"]["status"]
            assert status == "SUCCESS"
            history = [r for r in sb.stats()["requests"] if "/history" in r["path"]]
            assert len(history) == 2
        finally:
            ui.stop(*procs)
