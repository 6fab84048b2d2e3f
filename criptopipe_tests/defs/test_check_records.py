"""What Dagster's instance records of the checks, which is what the UI's Checks tab shows.

Dagster plans a result per check and per day of a single-run backfill; one planned and never
reported reads "Skipped" in the UI, which aggregates a check as Skipped when any day is. So a
range run must report, for each check, each day's verdict under that day's partition and tied to
that day's materialization, nothing left planned, while the check itself runs once (one step,
one ops-log row).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from criptopipe.defs.assets.coincap import asset_history
from criptopipe.defs.checks import quality_checks

DAYS = [f"2024-02-0{d}" for d in range(1, 6)]
RANGE = {
    "dagster/asset_partition_range_start": "2024-02-01",
    "dagster/asset_partition_range_end": "2024-02-05",
}
HISTORY_CHECK_KEYS = sorted(
    (k for c in quality_checks for k in c.check_keys if k.asset_key == asset_history.key),
    key=lambda k: k.name,
)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def _definitions(resources: dict[str, Any]) -> dg.Definitions:
    return dg.Definitions(
        assets=[asset_history],
        asset_checks=quality_checks,
        jobs=[
            dg.define_asset_job("history", selection=dg.AssetSelection.assets(asset_history)),
            dg.define_asset_job(
                "checks", selection=dg.AssetSelection.checks_for_assets(asset_history)
            ),
        ],
        resources=resources,
    )


def _records(instance: dg.DagsterInstance, key: dg.AssetCheckKey) -> list[Any]:
    return list(instance.event_log_storage.get_asset_check_execution_history(key, limit=50))


def test_a_range_run_reports_every_day_of_every_check_and_leaves_nothing_planned(
    resources: dict[str, Any], instance: dg.DagsterInstance, pg_url: str, pg_schema: str
) -> None:
    definitions = _definitions(resources)
    run = definitions.resolve_job_def("history").execute_in_process(instance=instance, tags=RANGE)
    assert run.success
    assert len(HISTORY_CHECK_KEYS) == 6
    mats = {
        r.partition_key: r.storage_id
        for r in instance.fetch_materializations(asset_history.key, limit=10).records
    }
    assert sorted(mats) == DAYS  # one materialization per day of the range
    for key in HISTORY_CHECK_KEYS:
        records = _records(instance, key)
        assert sorted(str(r.partition) for r in records) == DAYS, key.name  # one per day
        for record in records:
            assert record.run_id == run.run_id
            assert record.status.value in {"SUCCEEDED", "FAILED"}, (key.name, record.status)
            evaluation = record.event.dagster_event.event_specific_data
            assert evaluation.metadata["partitions"].value == record.partition
            assert evaluation.metadata["run_window"].value == "2024-02-01...2024-02-05"
            # that day's materialization: the partitions view shows the day's result as current
            target = evaluation.target_materialization_data
            assert target.storage_id == mats[record.partition]
    # the check ran once: one step per check, one row each in the dashboard's ops log
    steps = {e.step_key for e in run.all_events if e.event_type_value == "STEP_SUCCESS"}
    assert len(steps) == 1 + 6
    with psycopg.connect(pg_url) as conn:
        logged = conn.execute(
            sql.SQL("SELECT check_name, partition_key FROM {}").format(
                sql.Identifier(pg_schema, "check_results")
            )
        ).fetchall()
    assert sorted(logged) == sorted((k.name, "2024-02-01...2024-02-05") for k in HISTORY_CHECK_KEYS)


def test_a_day_that_fails_fails_alone(
    resources: dict[str, Any], instance: dg.DagsterInstance, pg_url: str, pg_schema: str
) -> None:
    """Each day's verdict is that day's: a hole on one day marks that day only."""
    definitions = _definitions(resources)
    assert (
        definitions.resolve_job_def("history")
        .execute_in_process(instance=instance, tags=RANGE)
        .success
    )
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE coin_id = 'solana' AND day = '2024-02-03'").format(
                sql.Identifier(pg_schema, "asset_history")
            )
        )
    again = definitions.resolve_job_def("checks").execute_in_process(
        instance=instance, tags=RANGE, raise_on_error=False
    )
    by_day = {
        e.asset_check_evaluation_data.partition: e.asset_check_evaluation_data
        for e in again.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.check_name == "complete_days"
    }
    assert sorted(by_day) == DAYS
    assert [d for d, ev in sorted(by_day.items()) if not ev.passed] == ["2024-02-03"]
    assert by_day["2024-02-03"].metadata["missing"].value == {"solana": ["2024-02-03"]}
