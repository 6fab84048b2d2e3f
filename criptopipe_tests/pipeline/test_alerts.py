"""What a failure alert says, from error chains shaped as Dagster stores them (outermost first)."""

from __future__ import annotations

from criptopipe.pipeline.alerts import (
    ErrorLink,
    StepError,
    build_failure,
    payload,
    readable,
    root_error,
)

RETRIED_OUT = [
    ErrorLink("RetryRequestedFromPolicy", "Exceeded max_retries of 3\n"),
    ErrorLink(
        "StorageUnavailableError",
        "criptopipe.storage.errors.StorageUnavailableError: PostgreSQL at db:5432 is unreachable\n",
    ),
    ErrorLink("OperationalError", "psycopg.OperationalError: connection refused\n"),
]


def test_the_root_error_is_the_last_attempts_own_exception() -> None:
    assert (
        root_error(RETRIED_OUT) == "StorageUnavailableError: PostgreSQL at db:5432 is unreachable"
    )
    wrapped = [
        ErrorLink(
            "DagsterExecutionStepExecutionError",
            "dagster._core.errors.DagsterExecutionStepExecutionError: Error occurred while "
            'executing op "asset_history":\n',
        ),
        ErrorLink("ValueError", "ValueError: day out of range\n"),
    ]
    assert root_error(wrapped) == "ValueError: day out of range"
    # a Failure's description is the message; a wrapper with nothing under it is all there is
    failure = [ErrorLink("Failure", "dagster._core.definitions.events.Failure: unknown coin\n")]
    assert root_error(failure) == "unknown coin"
    alone = [ErrorLink("DagsterExecutionInterruptedError", "Execution was interrupted\n")]
    assert root_error(alone) == "Execution was interrupted"
    assert readable("something: with spaces in head: x") == "something: with spaces in head: x"


def test_a_failure_names_step_partition_attempts_and_links_the_run() -> None:
    failure = build_failure(
        run_id="ebab7bf3-0000-4000-8000-000000000000",
        job_name="__ASSET_JOB",
        partition="2024-01-01...2024-03-31",
        steps=[StepError("asset_history", "asset_history", RETRIED_OUT, attempts=4)],
        run_error="Execution of run for \"__ASSET_JOB\" failed. Steps failed: ['asset_history'].",
        selection=["asset_history"],
        ui_base="https://dagster.example.com/",
    )
    assert failure.error == "StorageUnavailableError: PostgreSQL at db:5432 is unreachable"
    assert failure.step == "asset_history" and failure.attempts == 4
    assert (
        failure.run_url == "https://dagster.example.com/runs/ebab7bf3-0000-4000-8000-000000000000"
    )
    body = payload(failure)
    assert body["partition"] == "2024-01-01...2024-03-31" and body["attempts"] == 4
    assert "after 4 attempts" in body["text"] and failure.run_url in body["text"]
    assert "max_retries" not in body["text"]

    # no step failed (the run died around its steps): the run's own error, the selection
    died = build_failure(
        run_id="r",
        job_name="daily_job",
        partition="2024-03-05",
        steps=[],
        run_error="Run worker process exited unexpectedly",
        selection=["raw_assets", "asset_history"],
        ui_base=None,
    )
    assert died.error == "Run worker process exited unexpectedly"
    assert died.asset == "asset_history,raw_assets" and died.step is None
    assert died.run_url == "http://localhost:3000/runs/r"
