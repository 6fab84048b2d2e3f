"""Failed-run alerts: what a human needs from a failure, recorded once and POSTed once.

No Dagster here. The Dagster layer (`criptopipe/defs/run_alerts.py`) turns a run's events into
`StepError`s; this module picks the root error of each (the last attempt's own exception, not
the "Exceeded max_retries" wrapper Dagster puts around it), builds the `RunFailure`, records it
in `coincap.run_failures` and POSTs a Slack-compatible JSON body to the webhook, only from the
call that created the run's row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from criptopipe.storage import ops_log
from criptopipe.storage.postgres import PostgresStore

DEFAULT_DAGSTER_UI_URL = "http://localhost:3000"
ERROR_LIMIT = 2000

#: Dagster's wrappers around a user error: each carries the real exception as its cause.
_WRAPPER_PREFIXES = ("Dagster", "RetryRequested")


@dataclass(frozen=True)
class ErrorLink:
    """One exception of a chain (outermost first): its class name and formatted message."""

    cls_name: str | None
    message: str


@dataclass(frozen=True)
class StepError:
    """A step's final failure: its key, its name in asset terms, its error chain, and how
    many times it ran (1 + the retries it used)."""

    step: str
    label: str
    chain: Sequence[ErrorLink]
    attempts: int = 1


def readable(message: str) -> str:
    """`criptopipe.storage.errors.StorageUnavailableError: x` -> `StorageUnavailableError: x`;
    `dagster._core.definitions.events.Failure: unknown coin ...` -> `unknown coin ...` (a
    Failure's description is the message itself). Builtins keep their name: `ValueError: x`."""
    text = message.strip()
    head, sep, rest = text.partition(": ")
    if not sep or " " in head or "\n" in head:
        return text
    name = head.rsplit(".", 1)[-1]
    if name == "Failure":
        return rest.strip()
    return f"{name}: {rest.strip()}" if "." in head else text


def root_error(chain: Sequence[ErrorLink]) -> str:
    """The error a human acts on: the first exception of the chain that is not a Dagster
    wrapper with a cause (`RetryRequestedFromPolicy: Exceeded max_retries of 3`,
    `DagsterExecutionStepExecutionError: Error occurred while executing op`). The user's own
    exception wins over whatever it was raised from: our errors are written to be read."""
    for i, link in enumerate(chain):
        wrapper = (link.cls_name or "").startswith(_WRAPPER_PREFIXES)
        if not wrapper or i == len(chain) - 1:
            return readable(link.message)
    return "run failed"


def run_url(ui_base: str | None, run_id: str) -> str:
    """The run's page in the Dagster UI (`CRIPTOPIPE_DAGSTER_UI_URL`, default localhost:3000)."""
    return f"{(ui_base or DEFAULT_DAGSTER_UI_URL).rstrip('/')}/runs/{run_id}"


def build_failure(
    *,
    run_id: str,
    job_name: str,
    partition: str | None,
    steps: Sequence[StepError],
    run_error: str | None,
    selection: Sequence[str],
    ui_base: str | None,
) -> ops_log.RunFailure:
    """One record per run: the failed steps' root errors (in step order), or the run's own
    failure message when no step failed (a run that died before or between steps)."""
    if steps:
        error = " | ".join(
            f"{s.label}: {root_error(s.chain)}" if len(steps) > 1 else root_error(s.chain)
            for s in steps
        )
        asset: str | None = ",".join(sorted({s.label for s in steps}))
        step: str | None = ",".join(s.step for s in steps)
        attempts: int | None = max(s.attempts for s in steps)
    else:
        error = readable(run_error or "run failed")
        asset = ",".join(sorted(selection)) or None
        step, attempts = None, None
    return ops_log.RunFailure(
        run_id=run_id,
        job_name=job_name,
        asset=asset,
        partition_key=partition,
        error=error[:ERROR_LIMIT],
        step=step,
        attempts=attempts,
        run_url=run_url(ui_base, run_id),
    )


def payload(failure: ops_log.RunFailure) -> dict[str, Any]:
    """The webhook body: Slack incoming webhooks read `text`; other receivers the fields."""
    retried = f" after {failure.attempts} attempts" if (failure.attempts or 1) > 1 else ""
    where = " ".join(p for p in (failure.asset, failure.partition_key) if p) or "-"
    return {
        "text": f"criptopipe: run {failure.run_id[:8]} of {failure.job_name} failed{retried} "
        f"({where}): {failure.error[:300]} <{failure.run_url}|open run>",
        "run_id": failure.run_id,
        "job": failure.job_name,
        "assets": failure.asset,
        "step": failure.step,
        "partition": failure.partition_key,
        "error": failure.error[:500],
        "attempts": failure.attempts,
        "run_url": failure.run_url,
    }


def post_alert(url: str, body: dict[str, Any], timeout: float = 10.0) -> None:
    """POST `body` as JSON; raise on a non-2xx answer."""
    resp = httpx.post(url, json=body, timeout=timeout)
    resp.raise_for_status()


@dataclass(frozen=True)
class Outcome:
    recorded: bool  # this call created the run's row (False: another path already had it)
    notified: bool  # the webhook answered 2xx to this call's POST
    warning: str | None = None  # why the POST failed, for the caller's log


def deliver(failure: ops_log.RunFailure, store: PostgresStore, webhook_url: str | None) -> Outcome:
    """Record the failure and, if this call created its row, POST it: once per run whoever
    calls first (the hook inside the run, or the sensor afterwards). A webhook that is down
    leaves the row with `notified = false` and is not retried (a retry could POST twice)."""
    if not ops_log.record_failure(store, failure):
        return Outcome(recorded=False, notified=False)
    if not webhook_url:
        return Outcome(recorded=True, notified=False)
    try:
        post_alert(webhook_url, payload(failure))
    except httpx.HTTPStatusError as exc:  # its text holds the URL, which is a secret (Slack)
        warning = f"alert webhook answered HTTP {exc.response.status_code}"
        return Outcome(recorded=True, notified=False, warning=warning)
    except httpx.HTTPError as exc:
        warning = f"alert webhook failed: {type(exc).__name__}: {exc}"
        return Outcome(recorded=True, notified=False, warning=warning)
    ops_log.mark_notified(store, failure.run_id)
    return Outcome(recorded=True, notified=True)
