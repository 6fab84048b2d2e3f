"""Runs whose process died: found, failed with a reason, and their pool slots freed.

A `kill -9` (or an OOM kill, or a crash of the machine) of a run worker leaves its run STARTED in
Dagster's run storage and its `coincap` pool slot taken, plus, for a run that was itself waiting,
a pending claim that the next freed slot is handed to. Every later CoinCap step then waits
forever. Dagster's daemon cannot see this for runs it did not launch (`dagster asset materialize`
runs without a daemon, and the DefaultRunLauncher has no worker health check), so criptopipe
checks for itself: each run records its worker process as the run tag `criptopipe/worker`
(criptopipe.defs.executor), and a run whose recorded process is provably gone (same host, pid gone or
reused: criptopipe.pipeline.owners) is marked FAILED with that reason and its slots and claims freed. A
run that already ended but still holds slots (its database was down while it finished) only has
them freed. Runs on other hosts are left to that host or to Dagster's run monitoring.

Who calls it: `criptopipe run` / `fill-gaps` / `dev` before they start anything (one line per
reaped run), and a step blocked on a slot (criptopipe.defs.executor), so the pool heals whoever
launched the dead run. The decision (`decide`) and the messages are plain Python; the functions
that read and write Dagster's instance import Dagster lazily and stay thin.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from criptopipe.pipeline import owners
from criptopipe.pipeline.dead_runs import (
    FREEING,
    Action,
    Holder,
    Reaped,
    RunView,
    decide,
    held,
)

if TYPE_CHECKING:
    from dagster import DagsterInstance
    from dagster._core.storage.dagster_run import RunRecord

#: run tag holding the run worker's `owners.Owner` (JSON), written before any step runs
OWNER_TAG = "criptopipe/worker"


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


def check_before_run(say: Callable[[str], None]) -> list[Reaped]:
    """The CLI's check: reap dead runs of the project's instance (the one this process's
    environment points at: DAGSTER_HOME and what its dagster.yaml reads), one line each."""
    from dagster import DagsterInstance

    try:
        with DagsterInstance.get() as instance:
            reaped, unknown = reap_dead_runs(instance)
    except Exception as exc:  # the run itself will say what is wrong with the instance
        say(f"could not check for runs whose process died: {str(exc).splitlines()[0]}")
        return []
    for done in reaped:
        say(done.line())
    for view, reason in unknown:
        say(f"left alone: {view.name}, {view.status}, holds {held(view)}; {reason}")
    return reaped
