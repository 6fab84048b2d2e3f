"""What to do with a run whose process may have died, decided without Dagster.

A run is seen as a `RunView` (its status, its recorded worker process, the pool slots and
claims it holds); `decide` says whether to fail it (its process is provably gone), only free
what it holds (it ended but still holds slots), keep it, or leave it to someone who can see its
host. `criptopipe.defs.recovery` reads the instance into views and carries the decision out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from criptopipe.pipeline import owners


class Action(enum.Enum):
    FAIL = "fail"  # in progress, and its process is gone: mark it failed and free its slots
    FREE = "free"  # finished, yet still holding slots or claims: free them
    KEEP = "keep"  # alive, or finished holding nothing
    UNKNOWN = "unknown"  # its process cannot be checked from here


FREEING = frozenset({Action.FAIL, Action.FREE})


@dataclass(frozen=True)
class RunView:
    """What recovery needs to know of a run, without Dagster types."""

    run_id: str
    status: str  # DagsterRunStatus value: STARTED, FAILURE, ...
    finished: bool
    owner: owners.Owner | None
    label: str = ""  # assets and partitions, for messages
    slots: int = 0  # pool slots it holds
    claims: int = 0  # pending claims it has queued (including ones handed a slot)
    started: datetime | None = None  # when the run started

    @property
    def name(self) -> str:
        return f"run {self.run_id[:8]}" + (f" ({self.label})" if self.label else "")


def decide(run: RunView) -> tuple[Action, str]:
    """What to do with `run`, and why, in words for the run's log and the CLI."""
    if run.finished:
        if run.slots or run.claims:
            return Action.FREE, f"it ended {run.status} but still held {held(run)}"
        return Action.KEEP, f"it ended {run.status}"
    if run.owner is None:
        return Action.UNKNOWN, "no worker process is recorded for it (not started executing yet)"
    verdict = owners.liveness(run.owner)
    if verdict is owners.Liveness.DEAD:
        return Action.FAIL, f"its process ({run.owner.describe()}) is gone: killed or crashed"
    if verdict is owners.Liveness.UNKNOWN:
        return Action.UNKNOWN, f"its process runs on another host ({run.owner.host})"
    return Action.KEEP, f"its process ({run.owner.describe()}) is alive"


def held(run: RunView) -> str:
    parts = []
    if run.slots:
        parts.append(f"{run.slots} pool slot{'s' * (run.slots != 1)}")
    if run.claims:
        parts.append(f"{run.claims} pending claim{'s' * (run.claims != 1)}")
    return " and ".join(parts) or "nothing"


@dataclass(frozen=True)
class Reaped:
    run: RunView
    action: Action
    reason: str

    def line(self) -> str:
        if self.action is Action.FAIL:
            marked = "CANCELED" if self.run.status == "CANCELING" else "FAILED"
            done = f"marked {marked}, freed {held(self.run)}"
            return f"reaped {self.run.name}, {self.run.status}: {self.reason}; {done}"
        return f"freed {held(self.run)} of {self.run.name}: {self.reason}"


@dataclass(frozen=True)
class Holder:
    """A run holding (or handed) a slot a step is waiting for."""

    run: RunView
    step_key: str
    since: datetime | None
    action: Action
    reason: str

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def describe(self, now: datetime) -> str:
        since = ""
        if self.since:
            ago = duration((now - self.since).total_seconds())
            since = f" since {self.since:%Y-%m-%d %H:%M:%S} UTC ({ago})"
        held = f"held by {self.run.name}, step {self.step_key}, {self.run.status}{since}"
        return f"{held}; {self.reason}"


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
