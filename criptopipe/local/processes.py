"""The long-running programs `make dev` and `make dashboard` start, so `make stop` stops them.

`make dev` and `make dashboard` replace their own process with `dagster dev` / `streamlit run`
(exec: same pid), after writing `.criptopipe/processes/<name>.json` with the pid, its start time
(a recycled pid is never mistaken for ours) and the URL. `stop_all` sends SIGTERM to each,
waits for it and everything it started (`dagster dev`'s webserver, daemon and code server),
and ends what is left with SIGKILL. They stop before the local servers do, so no daemon is left
logging connection errors against a stopped database.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

STOP_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Started:
    name: str  # 'dev' or 'dashboard'
    label: str  # what a person calls it: 'Dagster UI and daemon'
    pid: int
    created: float  # psutil's create_time of pid
    url: str


def _folder(state: Path) -> Path:
    return state / "processes"


def record(state: Path, name: str, label: str, url: str) -> Started:
    """This process is `name` from now on (it is about to exec it)."""
    me = psutil.Process(os.getpid())
    started = Started(name, label, me.pid, me.create_time(), url)
    _folder(state).mkdir(parents=True, exist_ok=True)
    (_folder(state) / f"{name}.json").write_text(json.dumps(asdict(started)))
    return started


def _process(started: Started) -> psutil.Process | None:
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(started.pid)
        if abs(proc.create_time() - started.created) < 1.0 and proc.is_running():
            return proc
    return None


def running(state: Path, name: str) -> Started | None:
    """The recorded `name` when its process is still the one that was recorded."""
    path = _folder(state) / f"{name}.json"
    with contextlib.suppress(OSError, ValueError, TypeError):
        started = Started(**json.loads(path.read_text()))
        if _process(started) is not None:
            return started
    return None


def stop_all(state: Path) -> list[str]:
    """Stop every recorded program and its children; returns what was stopped."""
    stopped: list[str] = []
    for path in sorted(_folder(state).glob("*.json")):
        with contextlib.suppress(OSError, ValueError, TypeError):
            started = Started(**json.loads(path.read_text()))
            proc = _process(started)
            if proc is not None:
                _terminate(proc)
                stopped.append(f"{started.label} (pid {started.pid})")
        path.unlink(missing_ok=True)
    return stopped


def _terminate(proc: psutil.Process) -> None:
    """SIGTERM the program (dagster dev stops its children itself), wait, then end whatever of
    its tree is still alive."""
    with contextlib.suppress(psutil.Error):
        tree = [proc, *proc.children(recursive=True)]
        proc.terminate()
        _, alive = psutil.wait_procs([proc], timeout=STOP_TIMEOUT_S)
        rest = [p for p in tree if p.is_running()]
        for p in rest:
            with contextlib.suppress(psutil.Error):
                p.terminate()
        _, alive = psutil.wait_procs(rest, timeout=5)
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.kill()
