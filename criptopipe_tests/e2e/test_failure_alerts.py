"""A run launched by `dagster asset materialize` fails while the daemon runs `run_failure_alert`:
one `coincap.run_failures` row and exactly one webhook POST, carrying the root cause, the step,
the partition and a link to the run -- posted from inside the run by the assets' failure hook,
and not again by the sensor, which now does see runs that have no code-location origin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
from dagster._core.scheduler.instigation import InstigatorType
from psycopg import sql

from criptopipe.storage import ops_log
from criptopipe.storage.postgres import PostgresStore
from criptopipe_tests.e2e import dagster_ui as ui
from criptopipe_tests.e2e.conftest import ROOT, Project

UI_URL = "https://dagster.example.com"
SENSOR_ACTED = 'Sensor "run_failure_alert" acted on run status FAILURE'


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        _Receiver.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def own_instance_db(project: Project) -> Iterator[str]:
    """A Dagster storage database of its own: sensor cursors and runs of other tests' instances
    (they share the session's `dagster` database) must not reach this daemon."""
    name = f"dagster_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(project.pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(project.pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Receiver.bodies = []
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Receiver.bodies
    server.shutdown()
    server.server_close()


def _wait(what: str, predicate: Any, proc: subprocess.Popen[Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the daemon exited ({proc.returncode}) while waiting: {what}"
        found = predicate()
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"not within {timeout:.0f}s: {what}")


def test_a_cli_run_that_fails_alerts_once_with_the_daemon_running(
    project: Project,
    own_instance_db: str,
    webhook: tuple[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, posts = webhook
    alert_env = {
        "CRIPTOPIPE_ALERT_WEBHOOK_URL": url,
        "CRIPTOPIPE_DAGSTER_UI_URL": UI_URL,
        "DAGSTER_PG_DB": own_instance_db,
    }
    for key, value in {**project.env, **alert_env}.items():
        monkeypatch.setenv(key, value)  # this process reads the same instance
    daemon_exe = str(Path(sys.executable).parent / "dagster-daemon")
    daemon = subprocess.Popen(
        [daemon_exe, "run", "-w", str(ROOT / "workspace.yaml")],
        env={**os.environ},
        cwd=str(ROOT),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        with dg.DagsterInstance.get() as instance:

            def sensor_started() -> bool:
                # the first tick only sets the cursor: runs that end before it are not seen
                return any(
                    s.instigator_name == "run_failure_alert"
                    and s.instigator_data is not None
                    and getattr(s.instigator_data, "cursor", None)
                    for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
                )

            _wait("run_failure_alert's first tick", sensor_started, daemon)

            res = project.materialize(
                "asset_history",
                "--partition",
                "2024-02-01",
                extra_env={**alert_env, "CRIPTOPIPE_COINS": "bitcoin,no-such-coin"},
            )
            assert res.returncode != 0
            assert len(posts) == 1  # from inside the run, before any sensor tick could
            (run,) = instance.get_runs()
            assert run.remote_job_origin is None  # what the sensor used to skip

            def sensor_acted() -> bool:
                return any(
                    SENSOR_ACTED in (e.message or "")
                    for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
                )

            _wait("run_failure_alert acting on the CLI run", sensor_acted, daemon, timeout=60)
    finally:
        ui.stop(daemon)

    (alert,) = posts  # the sensor saw the run and did not POST it again
    assert alert["run_id"] == run.run_id and alert["partition"] == "2024-02-01"
    assert alert["error"].startswith("unknown coin id(s) 'no-such-coin'")
    assert alert["step"] == "asset_history" and alert["run_url"] == f"{UI_URL}/runs/{run.run_id}"
    (row,) = ops_log.failures(PostgresStore(project.pg_url, schema=project.schema))
    assert row["run_id"] == run.run_id and row["notified"] is True
    assert row["error"] == alert["error"] and row["partition_key"] == "2024-02-01"
