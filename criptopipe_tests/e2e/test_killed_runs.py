"""A killed run never wedges the pool: `dagster asset materialize` killed with SIGKILL mid-run, on
the real servers and the Postgres-backed instance (whose `coincap` pool has one slot).

- the next run of the same range succeeds with no manual step (the blocked step frees the dead
  run's slot) and both stores equal the clean run's; the killed run's spill folder is gone;
- a step blocked behind a live run says which run holds the slot and since when, sleeps instead
  of spinning, and ends on SIGTERM withdrawing its claim; `criptopipe` reaps a dead holder
  before it starts anything and says so.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterRunStatus

from criptopipe.datasets import ASSET_HISTORY
from criptopipe.pipeline.output import SPILL_PREFIX
from criptopipe.sources.coincap.sandbox import SandboxServer
from criptopipe.storage.mongo import MongoStore
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import Slice
from criptopipe_tests.e2e.conftest import ROOT, Project
from criptopipe_tests.e2e.dagster_ui import instance_for

POOL = "coincap"
#: any event line of the run names it (RUN_START is DEBUG, below the managed loggers' INFO)
RUN_START = re.compile(
    r" - dagster - [A-Z]+ - \S+ - ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}) - "
)


@pytest.fixture
def project(project: Project) -> Iterator[Project]:
    """The e2e project on a sandbox of its own: a killed run's requests hang on in the sandbox
    and are counted when they end, which must not be in the shared sandbox's counters."""
    with SandboxServer(port=0, key="test", coins=60) as sandbox:
        yield replace(
            project, sandbox=sandbox, env={**project.env, "COINCAP_BASE_URL": sandbox.base_url}
        )


def _start(project: Project, log: Path, tmpdir: Path, *args: str) -> subprocess.Popen[bytes]:
    """`dagster asset materialize` in the background, its temp dir `tmpdir`, output to `log`."""
    cmd = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "criptopipe.definitions"]
    return subprocess.Popen(
        [*cmd, "--select", "asset_history", *args],
        env={**os.environ, **project.env, "TMPDIR": str(tmpdir)},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=str(ROOT),
    )


def _wait_for(what: str, ready: Callable[[], object], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _spill_folders(tmpdir: Path) -> list[Path]:
    return sorted(tmpdir.glob(f"{SPILL_PREFIX}*"))


def _run_id(log: Path) -> str:
    found = RUN_START.search(log.read_text(errors="replace"))
    assert found, log.read_text(errors="replace")[-3000:]
    return found[1]


def _pool_run_ids(project: Project) -> set[str]:
    """Runs holding a slot of the pool or a claim on one."""
    with instance_for(project.env) as instance:
        info = instance.event_log_storage.get_concurrency_info(POOL)
    return {s.run_id for s in info.claimed_slots} | {p.run_id for p in info.pending_steps}


def _status(project: Project, run_id: str) -> DagsterRunStatus:
    with instance_for(project.env) as instance:
        run = instance.get_run_by_id(run_id)
    assert run is not None
    return run.status


def _stores(project: Project, slc: Slice) -> tuple[pd.DataFrame, list[dict[str, object]]]:
    """Both stores' rows for `slc`, without the fetch time (the one column a rerun changes)."""
    rows = PostgresStore(project.pg_url, schema=project.schema).read_slice(ASSET_HISTORY, slc)
    rows = rows.drop(columns=["fetched_at"]).sort_values(["coin_id", "day"], ignore_index=True)
    docs = MongoStore(project.mongo_uri).read_slice(ASSET_HISTORY, slc)
    docs = sorted(({k: v for k, v in d.items() if k != "fetched_at"} for d in docs), key=str)
    return rows, docs


def _hang_history(project: Project, seconds: int) -> None:
    """Every history request sits `seconds` in the sandbox: the run holds its slot meanwhile."""
    rule = {"kind": "hang", "seconds": seconds, "times": None, "path": "/history"}
    project.sandbox.set_faults({"rules": [rule]})


def test_killed_range_run_does_not_wedge_the_rerun(project: Project, tmp_path: Path) -> None:
    first, last = date(2024, 1, 1), date(2024, 3, 31)
    window = ["--partition-range", f"{first}...{last}"]
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    res = project.materialize("asset_history", *window, extra_env={"TMPDIR": str(tmpdir)})
    assert res.returncode == 0, res.stderr[-4000:]
    clean = _stores(project, Slice.days(first, last))
    with instance_for(project.env) as instance:  # the daemon's part (dagster.yaml)
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0

    _hang_history(project, 20)
    killed = _start(project, tmp_path / "killed.log", tmpdir, *window)
    try:
        _wait_for("the run to start fetching", lambda: _spill_folders(tmpdir))
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    killed_id = _run_id(tmp_path / "killed.log")
    assert _status(project, killed_id) is DagsterRunStatus.STARTED
    assert killed_id in _pool_run_ids(project)  # the slot is taken by a dead process
    assert _spill_folders(tmpdir)  # and its spill folder is left behind

    project.sandbox.set_faults({})
    rerun = _start(project, tmp_path / "rerun.log", tmpdir, *window)
    try:
        rerun.wait(timeout=150)
    except subprocess.TimeoutExpired:
        raise AssertionError("the rerun is wedged behind the killed run's slot") from None
    finally:
        if rerun.poll() is None:
            rerun.kill()
            rerun.wait()
    out = (tmp_path / "rerun.log").read_text(errors="replace")
    assert rerun.returncode == 0, out[-4000:]
    assert f"reaped run {killed_id[:8]}" in out and "is gone: killed or crashed" in out

    rows, docs = _stores(project, Slice.days(first, last))
    pd.testing.assert_frame_equal(rows, clean[0])
    assert docs == clean[1]
    assert _status(project, killed_id) is DagsterRunStatus.FAILURE
    assert killed_id not in _pool_run_ids(project)
    assert _spill_folders(tmpdir) == []  # the killed run's folder did not outlive its successor


def _runnable_share(pid: int, samples: int = 30) -> float:
    """Share of samples in which `pid` is running or runnable: ~1 for a busy loop, even on a
    loaded machine (a spinning process waits for a CPU in state R), ~0 for one that sleeps."""
    states = []
    for _ in range(samples):
        stat = Path(f"/proc/{pid}/stat").read_text()
        states.append(stat[stat.rindex(")") + 2])
        time.sleep(0.1)
    return states.count("R") / samples


def test_blocked_step_names_the_holder_sleeps_and_stops_on_sigterm(
    project: Project, tmp_path: Path
) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    _hang_history(project, 45)
    holder = _start(
        project, tmp_path / "holder.log", tmpdir, "--partition-range", "2024-05-01...2024-05-31"
    )
    waiter: subprocess.Popen[bytes] | None = None
    try:
        _wait_for("the holder to take the slot", lambda: _spill_folders(tmpdir))
        holder_id = _run_id(tmp_path / "holder.log")
        waiter = _start(project, tmp_path / "waiter.log", tmpdir, "--partition", "2024-06-01")
        log = tmp_path / "waiter.log"
        waiting = "asset_history is waiting for a slot of pool coincap"  # our line, at INFO
        _wait_for("the waiter to block", lambda: waiting in log.read_text())
        assert _runnable_share(waiter.pid) < 0.3, "the blocked step spins instead of sleeping"

        said = log.read_text()
        assert f"held by run {holder_id[:8]} (asset_history 2024-05-01...2024-05-31)" in said
        assert re.search(r"STARTED since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", said), said
        assert "is alive" in said

        waiter_id = _run_id(log)
        sent = time.monotonic()
        waiter.send_signal(signal.SIGTERM)
        waiter.wait(timeout=20)  # Dagster's in-process loop alone never hears it
        assert time.monotonic() - sent < 10
        assert "interrupted (SIGTERM/SIGINT) while asset_history waited" in log.read_text()
        assert _status(project, waiter_id) is DagsterRunStatus.FAILURE
        assert waiter_id not in _pool_run_ids(project)  # no claim left for the next slot
    finally:
        for proc in (waiter, holder):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()

    # the holder is dead now: `criptopipe` frees its slot before it starts anything
    project.sandbox.set_faults({})
    res = subprocess.run(
        [sys.executable, "-m", "criptopipe.cli", "fill-gaps", "--partition", "2024-06-01"],
        env={**os.environ, **project.env, "TMPDIR": str(tmpdir)},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(ROOT),
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    said = [line for line in res.stdout.splitlines() if f"run {holder_id[:8]}" in line]
    assert len(said) == 1, res.stdout
    assert said[0].startswith(f"reaped run {holder_id[:8]} (asset_history 2024-05-01...2024-05-31)")
    assert said[0].endswith("marked FAILED, freed 1 pool slot"), said[0]
    assert _status(project, holder_id) is DagsterRunStatus.FAILURE
    assert _pool_run_ids(project) == set()
    assert _spill_folders(tmpdir) == []
