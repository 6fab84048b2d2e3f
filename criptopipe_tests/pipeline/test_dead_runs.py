"""Who may clean up after whom: process liveness, the verdict on a run, and the spill sweep.

Real processes (a child that exited, a zombie, this one), real folders; no Dagster.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from criptopipe.datasets import ASSET_HISTORY
from criptopipe.pipeline import output as batches
from criptopipe.pipeline import owners
from criptopipe.pipeline.dead_runs import Action, Reaped, RunView, decide
from criptopipe.storage.slices import Slice

DAY = date(2024, 1, 1)


def _exited_child() -> owners.Owner:
    """The owner record of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    owner = replace(owners.current(), pid=proc.pid, started=owners._start_mark(proc.pid))
    proc.kill()
    proc.wait()
    return owner


def test_this_process_is_alive() -> None:
    assert owners.liveness(owners.current()) is owners.Liveness.ALIVE


def test_an_exited_process_is_dead() -> None:
    assert owners.liveness(_exited_child()) is owners.Liveness.DEAD


def test_a_zombie_is_dead() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    owner = replace(owners.current(), pid=proc.pid, started=owners._start_mark(proc.pid))
    deadline = time.monotonic() + 30
    while owners._stat(proc.pid) is not None and owners._stat(proc.pid)[0] != "Z":  # type: ignore[index]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    try:
        assert owners.liveness(owner) is owners.Liveness.DEAD  # exited, its parent not told yet
    finally:
        proc.wait()


def test_a_reused_pid_is_not_the_owner() -> None:
    me = owners.current()
    boot, _, ticks = me.started.partition(":")
    other_start = replace(me, started=f"{boot}:{int(ticks) - 1}")
    assert owners.liveness(other_start) is owners.Liveness.DEAD
    assert owners.liveness(replace(me, started=f"another-boot:{ticks}")) is owners.Liveness.DEAD


def test_another_host_cannot_be_judged_from_here() -> None:
    elsewhere = replace(_exited_child(), host="another-host")
    assert owners.liveness(elsewhere) is owners.Liveness.UNKNOWN


def test_owner_round_trips_and_garbage_decodes_to_none() -> None:
    me = owners.current()
    assert owners.Owner.decode(me.encode()) == me
    for garbage in (
        None,
        "",
        "{",
        "[]",
        '{"host": "h"}',
        '{"host": "h", "pid": "x", "started": ""}',
    ):
        assert owners.Owner.decode(garbage) is None


def _run(**kw: object) -> RunView:
    base: dict[str, object] = {
        "run_id": "4a38581c-ec0e-45a3-9f80-fbdd25e73896",
        "status": "STARTED",
        "finished": False,
        "owner": owners.current(),
        "label": "asset_history 2024-01-01...2024-03-31",
    }
    return RunView(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("run", "action", "said"),
    [
        (_run(), Action.KEEP, "is alive"),
        (_run(owner=_exited_child(), slots=1), Action.FAIL, "is gone: killed or crashed"),
        (_run(owner=None, slots=1), Action.UNKNOWN, "no worker process is recorded"),
        (_run(owner=replace(owners.current(), host="elsewhere")), Action.UNKNOWN, "another host"),
        (_run(status="FAILURE", finished=True, slots=1), Action.FREE, "ended FAILURE but still"),
        (_run(status="SUCCESS", finished=True, claims=2), Action.FREE, "2 pending claims"),
        (_run(status="FAILURE", finished=True), Action.KEEP, "ended FAILURE"),
    ],
)
def test_decide(run: RunView, action: Action, said: str) -> None:
    got, reason = decide(run)
    assert got is action and said in reason


def test_reaped_line_names_the_run_what_happened_and_what_was_freed() -> None:
    run = _run(owner=replace(owners.current(), pid=4242, host="vm"), slots=1, claims=1)
    line = Reaped(
        run, Action.FAIL, "its process (pid 4242 on vm) is gone: killed or crashed"
    ).line()
    assert line == (
        "reaped run 4a38581c (asset_history 2024-01-01...2024-03-31), STARTED: its process "
        "(pid 4242 on vm) is gone: killed or crashed; marked FAILED, freed 1 pool slot and "
        "1 pending claim"
    )


def _folder(parent: Path, name: str, marker: str | None) -> Path:
    folder = parent / name
    folder.mkdir()
    (folder / "batch-00000.pickle").write_bytes(b"x" * 100)
    if marker is not None:
        (folder / batches.OWNER_FILE).write_text(marker)
    return folder


def test_sweep_removes_only_folders_of_dead_owners(tmp_path: Path) -> None:
    dead = _folder(tmp_path, "criptopipe-spill-dead", _exited_child().encode())
    live = _folder(tmp_path, "criptopipe-spill-live", owners.current().encode())
    elsewhere = replace(owners.current(), host="another-host").encode()
    remote = _folder(tmp_path, "criptopipe-spill-remote", elsewhere)
    unmarked = _folder(tmp_path, "criptopipe-spill-old", None)
    garbled = _folder(tmp_path, "criptopipe-spill-garbled", "{not json")
    other = _folder(tmp_path, "criptopipe-test-servers", _exited_child().encode())

    assert batches.sweep_orphans(tmp_path) == [dead]
    assert not dead.exists()
    assert all(p.exists() for p in (live, remote, unmarked, garbled, other))


def test_a_new_spill_sweeps_then_marks_its_own_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(batches.tempfile, "tempdir", None)  # re-read TMPDIR
    dead = _folder(tmp_path, "criptopipe-spill-dead", _exited_child().encode())
    spilled = batches.SliceOutput(ASSET_HISTORY, Slice.days(DAY, DAY), spill=True)
    spilled.add(ASSET_HISTORY.empty())  # the first spilled batch creates the folder
    try:
        assert not dead.exists()
        folder = spilled.spill_folder
        assert folder is not None and folder.parent == tmp_path
        assert folder.name.startswith("criptopipe-spill-")
        marker = owners.Owner.decode((folder / batches.OWNER_FILE).read_text())
        assert marker == owners.current()
        assert batches.sweep_orphans(tmp_path) == []  # its owner (this process) is alive
    finally:
        spilled.cleanup()
