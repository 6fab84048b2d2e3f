"""The Dagster side of failed-run alerts: read a failed run from the instance, hand it on.

Two paths see failures, and both end in `criptopipe.alerts.deliver`, which lets only the first
one record the run and POST it:

- `alert_on_failure`, a failure hook on every CoinCap asset, runs inside the run's own process
  right after a step's final failure (retries used up). It needs no daemon, so a
  `dagster asset materialize` (`make run`, `criptopipe fill-gaps`, the README's backfill)
  alerts even when nothing else is running.
- `run_failure_alert` (criptopipe/defs/sensors.py), a run-failure sensor over every code location,
  sees each run that ends FAILURE, whatever launched it, including runs no hook can speak for:
  a blocking check that failed, a run that died outside a step (marked failed by run
  monitoring). Before `monitor_all_code_locations`, Dagster's sensor skipped runs whose
  `remote_job_origin` is not its own code location, and CLI runs have no origin at all.

What a run failed of comes from its event log: each STEP_FAILURE's error chain (a step that
used up its retries fails with `RetryRequestedFromPolicy: Exceeded max_retries of 3` whose cause
is the last attempt's exception), STEP_UP_FOR_RETRY for the attempts, and failed check
evaluations to name a check's step in asset terms.
"""

from __future__ import annotations

from typing import Protocol

import dagster as dg
from dagster_shared.error import SerializableErrorInfo  # what event data carries (no public alias)

from criptopipe.defs.resources import PostgresResource, env_settings
from criptopipe.pipeline import alerts
from criptopipe.storage import ops_log

_EVENTS = {
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.STEP_UP_FOR_RETRY,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
}


class _Log(Protocol):
    def warning(self, msg: str) -> None: ...


def error_chain(error: SerializableErrorInfo | None) -> list[alerts.ErrorLink]:
    """An error and its causes, outermost first, as plain values."""
    chain: list[alerts.ErrorLink] = []
    while error is not None and len(chain) < 20:
        chain.append(alerts.ErrorLink(error.cls_name, error.message))
        error = error.cause
    return chain


def run_error(event: dg.DagsterEvent | None) -> str | None:
    """A RUN_FAILURE's own error: the root of its chain when it carries one (run monitoring's
    "worker exited", a resource that failed to start), else its message."""
    if event is None:
        return None
    error = getattr(event.event_specific_data, "error", None)
    if error is not None:
        return alerts.root_error(error_chain(error))
    return event.message


def partition_of(tags: dict[str, str]) -> str | None:
    """`2024-03-05` for one partition, `first...last` for a single-run range."""
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    return f"{start}...{end}" if start and end else None


def describe(
    instance: dg.DagsterInstance, run: dg.DagsterRun, run_message: str | None = None
) -> ops_log.RunFailure:
    """The run's failure as `alerts` builds it: every failed step with its root error and
    attempts, in the order they failed; `run_message` when no step failed."""
    retries: dict[str, int] = {}
    check_labels: dict[str, str] = {}
    failed: list[tuple[str, SerializableErrorInfo | None]] = []
    for record in instance.all_logs(run.run_id, of_type=_EVENTS):
        event, step = record.dagster_event, record.step_key
        if event is None or step is None:
            continue
        data = event.event_specific_data
        if event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY:
            retries[step] = retries.get(step, 0) + 1
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
            failed.append((step, getattr(data, "error", None)))
        elif isinstance(data, dg.AssetCheckEvaluation) and not data.passed:
            check_labels[step] = f"{data.asset_key.to_user_string()} (check {data.check_name})"
    steps = [
        alerts.StepError(
            step=step,
            label=check_labels.get(step, step),
            chain=error_chain(error),
            attempts=retries.get(step, 0) + 1,
        )
        for step, error in failed
    ]
    return alerts.build_failure(
        run_id=run.run_id,
        job_name=run.job_name,
        partition=partition_of(dict(run.tags)),
        steps=steps,
        run_error=run_message,
        selection=[k.to_user_string() for k in run.asset_selection or ()],
        ui_base=env_settings().dagster_ui_url,
    )


def deliver(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    postgres: PostgresResource,
    log: _Log,
    run_message: str | None = None,
) -> alerts.Outcome:
    outcome = alerts.deliver(
        describe(instance, run, run_message),
        postgres.store(),
        postgres.env().alert_webhook_url,
    )
    if outcome.warning:
        log.warning(outcome.warning)
    return outcome


@dg.failure_hook(
    name="alert_on_failure",
    required_resource_keys={"postgres"},
)
def alert_on_failure(context: dg.HookContext) -> None:
    """After a step's final failure, from inside the run: record it and alert (once per run)."""
    run = context.instance.get_run_by_id(context.run_id)
    if run is not None:
        deliver(context.instance, run, context.resources.postgres, context.log)
