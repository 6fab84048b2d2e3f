"""Runs whose process died: found, failed with a reason, and their pool slots freed.

A `kill -9` (or an OOM kill, or a crash of the machine) of a run worker leaves its run STARTED in
Dagster's run storage and its `coincap` pool slot taken, plus, for a run that was itself waiting,
a pending claim that the next freed slot is handed to. Every later CoinCap step then waits
forever. Dagster's daemon cannot see this for runs it did not launch (`dagster asset materialize`
runs without a daemon, and the DefaultRunLauncher has no worker health check), so criptopipe
checks for itself: each run records its worker process as the run tag `criptopipe/worker`
(criptopipe.executor), and a run whose recorded process is provably gone (same host, pid gone or
reused: criptopipe.owners) is marked FAILED with that reason and its slots and claims freed. A
run that already ended but still holds slots (its database was down while it finished) only has
them freed. Runs on other hosts are left to that host or to Dagster's run monitoring.

Who calls it: `criptopipe run` / `fill-gaps` / `dev` before they start anything (one line per
reaped run), and a step blocked on a slot (criptopipe.executor), so the pool heals whoever
launched the dead run. The decision (`decide`) and the messages are plain Python; the functions
that read and write Dagster's instance import Dagster lazily and stay thin.
"""

from __future__ import annotations

import enum
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from criptopipe import owners

if TYPE_CHECKING:
    from dagster import DagsterInstance
    from dagster._core.storage.dagster_run import RunRecord

#: run tag holding the run worker's `owners.Owner` (JSON), written before any step runs
OWNER_TAG = "criptopipe/worker"


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
            return Action.FREE, f"it ended {run.status} but still held {_held(run)}"
        return Action.KEEP, f"it ended {run.status}"
    if run.owner is None:
        return Action.UNKNOWN, "no worker process is recorded for it (not started executing yet)"
    verdict = owners.liveness(run.owner)
    if verdict is owners.Liveness.DEAD:
        return Action.FAIL, f"its process ({run.owner.describe()}) is gone: killed or crashed"
    if verdict is owners.Liveness.UNKNOWN:
        return Action.UNKNOWN, f"its process runs on another host ({run.owner.host})"
    return Action.KEEP, f"its process ({run.owner.describe()}) is alive"


def _held(run: RunView) -> str:
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
            done = f"marked {marked}, freed {_held(self.run)}"
            return f"reaped {self.run.name}, {self.run.status}: {self.reason}; {done}"
        return f"freed {_held(self.run)} of {self.run.name}: {self.reason}"


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


# ------------------------------------------------------------------ the thin Dagster part


@dataclass
class _Concurrency:
    slots: Counter[str]  # run id -> slots held (all pools)
    claims: Counter[str]  # run id -> pending claims without a slot (all pools)
    held: dict[str, list[tuple[str, str, datetime | None]]]  # pool -> (run, step, since)


def _concurrency(instance: DagsterInstance) -> _Concurrency:
    storage = instance.event_log_storage
    out = _Concurrency(Counter(), Counter(), {})
    if not storage.supports_global_concurrency_limits:
        return out
    for pool, info in storage.get_concurrency_infos(sorted(storage.get_concurrency_keys())).items():
        claimed = {(s.run_id, s.step_key) for s in info.claimed_slots}
        out.slots.update(run_id for run_id, _ in claimed)
        assigned = {}
        for step in info.pending_steps:
            if (step.run_id, step.step_key) in claimed or step.assigned_timestamp is not None:
                assigned[(step.run_id, step.step_key)] = step.assigned_timestamp
            else:
                out.claims[step.run_id] += 1
        # a step handed a slot but not yet claiming it holds the slot as much as one using it
        for run_id, _ in assigned.keys() - claimed:
            out.claims[run_id] += 1
        out.held[pool] = [
            (run_id, step_key, assigned.get((run_id, step_key)))
            for run_id, step_key in sorted(claimed | assigned.keys())
        ]
    return out


def _label(record: RunRecord) -> str:
    run = record.dagster_run
    assets = sorted(key.to_user_string() for key in run.asset_selection or ())
    tags = run.tags
    first = tags.get("dagster/asset_partition_range_start")
    last = tags.get("dagster/asset_partition_range_end")
    partitions = f"{first}...{last}" if first and last else tags.get("dagster/partition", "")
    return " ".join(p for p in (",".join(assets) or run.job_name, partitions) if p)


def _view(record: RunRecord, conc: _Concurrency) -> RunView:
    run = record.dagster_run
    return RunView(
        run_id=run.run_id,
        status=run.status.value,
        finished=run.is_finished,
        owner=owners.Owner.decode(run.tags.get(OWNER_TAG)),
        label=_label(record),
        slots=conc.slots[run.run_id],
        claims=conc.claims[run.run_id],
        started=datetime.fromtimestamp(record.start_time, timezone.utc)
        if record.start_time
        else None,
    )


def _views(
    instance: DagsterInstance,
    run_ids: Sequence[str] | None = None,
    conc: _Concurrency | None = None,
) -> list[RunView]:
    """`run_ids`, or every in-progress run and every run holding pool slots or claims. A run
    deleted while it held a slot appears as finished (DELETED), so its slot is freed too."""
    from dagster import DagsterRunStatus, RunsFilter

    conc = conc or _concurrency(instance)
    if run_ids is None:
        active = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
        running = instance.get_run_records(filters=RunsFilter(statuses=active))
        wanted = {r.dagster_run.run_id for r in running} | set(conc.slots) | set(conc.claims)
    else:
        wanted = set(run_ids)
    if not wanted:
        return []
    found = instance.get_run_records(filters=RunsFilter(run_ids=sorted(wanted)))
    records = {r.dagster_run.run_id: r for r in found}
    return [
        _view(records[run_id], conc)
        if run_id in records
        else RunView(run_id, "DELETED", True, None, "", conc.slots[run_id], conc.claims[run_id])
        for run_id in sorted(wanted)
    ]


def survey(instance: DagsterInstance) -> list[tuple[RunView, Action, str]]:
    """Every in-progress run, and every run holding pool slots or claims, with its verdict."""
    return [(view, *decide(view)) for view in _views(instance)]


def reap(instance: DagsterInstance, run_ids: Sequence[str]) -> list[Reaped]:
    """Fail and free each of `run_ids` that is (still, on a fresh look) dead or finished."""
    from dagster import DagsterRunStatus
    from dagster._core.events import JobFailureData, RunFailureReason

    me = owners.current().describe()
    out = []
    for view in _views(instance, run_ids):
        action, reason = decide(view)
        if action not in FREEING:
            continue
        run = instance.get_run_by_id(view.run_id) if action is Action.FAIL else None
        if run is not None:
            message = f"{reason}; marked failed and its pool slots freed by criptopipe ({me})"
            if run.status is DagsterRunStatus.CANCELING:
                instance.report_run_canceled(run, message)
            else:
                instance.report_run_failed(
                    run,
                    message,
                    JobFailureData(
                        error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION
                    ),
                )
        instance.event_log_storage.free_concurrency_slots_for_run(view.run_id)
        out.append(Reaped(view, action, reason))
    return out


def reap_dead_runs(instance: DagsterInstance) -> tuple[list[Reaped], list[tuple[RunView, str]]]:
    """Reap every dead run; also return the runs holding slots that cannot be judged here."""
    surveyed = survey(instance)
    reaped = reap(instance, [view.run_id for view, action, _ in surveyed if action in FREEING])
    unknown = [
        (view, reason)
        for view, action, reason in surveyed
        if action is Action.UNKNOWN and (view.slots or view.claims)
    ]
    return reaped, unknown


def holders(instance: DagsterInstance, pool: str, exclude_run_id: str) -> list[Holder]:
    """The runs other than `exclude_run_id` holding (or handed) a slot of `pool`."""
    conc = _concurrency(instance)
    held = [h for h in conc.held.get(pool, []) if h[0] != exclude_run_id]
    views = {v.run_id: v for v in _views(instance, [run_id for run_id, _, _ in held], conc)}
    out = []
    for run_id, step_key, since in held:
        view = views[run_id]
        if since is None and view.started is not None:
            since = view.started
        elif since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)  # Dagster stores naive UTC
        out.append(Holder(view, step_key, since, *decide(view)))
    return out


@contextmanager
def _environ(env: Mapping[str, str]) -> Iterator[None]:
    """The instance's dagster.yaml reads DAGSTER_HOME and DAGSTER_PG_* from the environment."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def instance_for(env: Mapping[str, str]) -> Iterator[DagsterInstance]:
    """The Dagster instance `env` points at (DAGSTER_HOME and the variables its file reads)."""
    from dagster import DagsterInstance

    with _environ(env), DagsterInstance.get() as instance:
        yield instance


def check_before_run(env: Mapping[str, str], say: Callable[[str], None]) -> list[Reaped]:
    """The CLI's check: reap dead runs of the project's instance, one line each."""
    try:
        with instance_for(env) as instance:
            reaped, unknown = reap_dead_runs(instance)
    except Exception as exc:  # the run itself will say what is wrong with the instance
        say(f"could not check for runs whose process died: {str(exc).splitlines()[0]}")
        return []
    for done in reaped:
        say(done.line())
    for view, reason in unknown:
        say(f"left alone: {view.name}, {view.status}, holds {_held(view)}; {reason}")
    return reaped
