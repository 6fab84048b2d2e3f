"""Sensors: new coins, freshness, and failed runs.

- `new_coin_sensor`: when the latest `raw_assets` snapshot lists coins the sensor has not seen,
  request ONE history backfill run for just those coins over the last `NEW_COIN_LOOKBACK_DAYS`
  (or CRIPTOPIPE_NEW_COIN_LOOKBACK_DAYS), narrowed to them (run config `coins`), with a run key
  so each set of new coins is backfilled once. The first tick only learns the current coins.
- `freshness_checks_sensor`: evaluates the freshness checks (Dagster's builder).
- `run_failure_alert`: records each failed run in `coincap.run_failures` and, when
  CRIPTOPIPE_ALERT_WEBHOOK_URL is set, POSTs a short JSON message to it.
"""

import hashlib
import json
import os
from datetime import datetime, timedelta, timezone

import dagster as dg
from psycopg import sql

from criptopipe.alerts import post_alert
from criptopipe.checks import freshness_checks
from criptopipe.jobs import history_job
from criptopipe.resources import PostgresResource
from criptopipe.storage import ops_log

NEW_COIN_LOOKBACK_DAYS = 365
WEBHOOK_ENV = "CRIPTOPIPE_ALERT_WEBHOOK_URL"
LOOKBACK_ENV = "CRIPTOPIPE_NEW_COIN_LOOKBACK_DAYS"


def latest_snapshot_coins(postgres: PostgresResource) -> tuple[str | None, list[str]]:
    """The coins of the most recent raw_assets snapshot day in PostgreSQL."""
    store = postgres.store()
    with store.connect(read_only=True) as conn:
        exists = conn.execute(
            "SELECT to_regclass(%s)", (f'"{store.schema}"."raw_assets"',)
        ).fetchone()
        if not exists or not exists[0]:
            return None, []
        table = sql.SQL("{}.raw_assets").format(sql.Identifier(store.schema))
        rows = conn.execute(
            sql.SQL(
                "SELECT snapshot_date, coin_id FROM {} WHERE snapshot_date = "
                "(SELECT max(snapshot_date) FROM {}) ORDER BY coin_id"
            ).format(table, table)
        ).fetchall()
    if not rows:
        return None, []
    return str(rows[0][0]), [r[1] for r in rows]


@dg.sensor(
    job=history_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Backfills asset_history for coins that newly appear in raw_assets.",
)
def new_coin_sensor(
    context: dg.SensorEvaluationContext, postgres: PostgresResource
) -> dg.SensorResult | dg.SkipReason:
    day, coins = latest_snapshot_coins(postgres)
    if day is None:
        return dg.SkipReason("no raw_assets snapshot loaded yet")
    known = set(json.loads(context.cursor)) if context.cursor else None
    cursor = json.dumps(sorted(set(coins) | (known or set())))
    if known is None:
        return dg.SensorResult(skip_reason=f"learned {len(coins)} coins from {day}", cursor=cursor)
    new = sorted(set(coins) - known)
    if not new:
        return dg.SensorResult(skip_reason=f"no new coins in the {day} snapshot", cursor=cursor)
    lookback = int(os.environ.get(LOOKBACK_ENV) or NEW_COIN_LOOKBACK_DAYS)
    last = datetime.now(timezone.utc).date() - timedelta(days=1)
    first = last - timedelta(days=lookback - 1)
    digest = hashlib.sha1(",".join(new).encode()).hexdigest()[:12]
    request = dg.RunRequest(
        run_key=f"new-coins-{digest}",
        run_config={"ops": {"asset_history": {"config": {"coins": new}}}},
        tags={
            "dagster/asset_partition_range_start": str(first),
            "dagster/asset_partition_range_end": str(last),
            "criptopipe/new_coins": ",".join(new)[:200],
        },
    )
    context.log.info(f"new coins {new}: backfilling {first}...{last}")
    return dg.SensorResult(run_requests=[request], cursor=cursor)


freshness_sensor = dg.build_sensor_for_freshness_checks(
    freshness_checks=freshness_checks, minimum_interval_seconds=600
)


def _failed_assets(context: dg.RunFailureSensorContext) -> str | None:
    """The assets whose steps failed, else the run's asset selection."""
    failed = sorted({e.step_key for e in context.get_step_failure_events() if e.step_key})
    if failed:
        return ",".join(failed)
    selection = context.dagster_run.asset_selection
    if selection:
        return ",".join(sorted(k.to_user_string() for k in selection))
    return None


def _partition(context: dg.RunFailureSensorContext) -> str | None:
    tags = context.dagster_run.tags
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    return f"{start}...{end}" if start and end else None


@dg.run_failure_sensor(
    name="run_failure_alert",
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Records failed runs in coincap.run_failures and POSTs them to a webhook.",
)
def run_failure_alert(context: dg.RunFailureSensorContext, postgres: PostgresResource) -> None:
    error = context.failure_event.message or "run failed"
    step_errors = [
        e.event_specific_data.error.message  # type: ignore[union-attr]
        for e in context.get_step_failure_events()
        if getattr(e.event_specific_data, "error", None) is not None
    ]
    if step_errors:
        error = " | ".join(step_errors)[:2000]
    failure = ops_log.RunFailure(
        run_id=context.dagster_run.run_id,
        job_name=context.dagster_run.job_name,
        asset=_failed_assets(context),
        partition_key=_partition(context),
        error=error,
    )
    notified = False
    url = os.environ.get(WEBHOOK_ENV)
    if url:
        try:
            post_alert(
                url,
                {
                    "run_id": failure.run_id,
                    "job": failure.job_name,
                    "assets": failure.asset,
                    "partition": failure.partition_key,
                    "error": failure.error[:500],
                },
            )
            notified = True
        except Exception as exc:  # the record below must land even if the webhook is down
            context.log.warning(f"alert webhook failed: {exc}")
    ops_log.record_failure(postgres.resolved_url(), postgres.resolved_schema(), failure, notified)


sensors = [new_coin_sensor, freshness_sensor, run_failure_alert]
