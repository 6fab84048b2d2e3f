"""Sensors: new coins, freshness, and failed runs.

- `new_coin_sensor`: after each new `raw_assets` materialization, compare the coins of the
  latest snapshot in PostgreSQL with the coins the sensor already knows (its cursor). Coins it
  has not seen get ONE `asset_history` run over a partition *range* (the tags
  `dagster/asset_partition_range_start/end`, which is how Dagster 1.13 expresses a ranged single
  run in a RunRequest; asset_history has `BackfillPolicy.single_run`), narrowed to them by run
  config (`CoinsConfig.coins`), with a run key so each set of new coins is backfilled once.
  CoinCap v3 does not publish a listing day, so the range is the last
  CRIPTOPIPE_NEW_COIN_LOOKBACK_DAYS closed days (365 by default; days before a coin existed come
  back as reported holes, never invented rows). The first tick only learns the current coins:
  they were loaded by the initial backfill.
- `freshness_checks_sensor`: evaluates the freshness checks (Dagster's builder).
- `run_failure_alert`: records each failed run in `coincap.run_failures` and, when
  CRIPTOPIPE_ALERT_WEBHOOK_URL is set, POSTs a short JSON message to it.

All three ship STOPPED, like the schedule: turn them on in the UI (Automation) or with
`dagster sensor start <name>`; docs/operations.md says when.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import dagster as dg

from criptopipe.datasets import RAW_ASSETS
from criptopipe.defs.assets.coincap import raw_assets
from criptopipe.defs.checks import freshness_checks
from criptopipe.defs.jobs import history_job
from criptopipe.defs.partitions import START_DATE
from criptopipe.defs.resources import PostgresResource, env_settings
from criptopipe.pipeline.alerts import post_alert
from criptopipe.storage import ops_log


@dataclass
class CoinCursor:
    """What the new-coin sensor remembers between ticks: the last raw_assets materialization it
    looked at (an event-log storage id) and every coin it has seen. Dagster's `@asset_sensor`
    keeps its own cursor (the storage id alone), hence a plain sensor with both in one."""

    after: int | None = None
    known: list[str] | None = None

    @classmethod
    def load(cls, raw: str | None) -> "CoinCursor":
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(after=data.get("after"), known=data.get("known"))

    def dump(self) -> str:
        return json.dumps({"after": self.after, "known": self.known})


def backfill_range(today: date, days: int) -> tuple[date, date]:
    """The last `days` closed UTC days (yesterday is the newest partition), never before the
    partitions' start."""
    last = today - timedelta(days=1)
    first = max(last - timedelta(days=days - 1), date.fromisoformat(START_DATE))
    return first, last


def new_coin_request(coins: list[str], first: date, last: date) -> dg.RunRequest:
    """One ranged asset_history run for `coins`; the run key makes it happen once per set."""
    digest = hashlib.sha1(",".join(sorted(coins)).encode()).hexdigest()[:12]
    return dg.RunRequest(
        run_key=f"new-coins-{digest}",
        run_config={"ops": {"asset_history": {"config": {"coins": sorted(coins)}}}},
        tags={
            "dagster/asset_partition_range_start": str(first),
            "dagster/asset_partition_range_end": str(last),
            "criptopipe/new_coins": ",".join(sorted(coins))[:200],
        },
    )


@dg.sensor(
    job=history_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="After each raw_assets materialization, backfills asset_history (one ranged "
    "run, narrowed to them) for coins that newly appear in the tracked universe.",
)
def new_coin_sensor(
    context: dg.SensorEvaluationContext, postgres: PostgresResource
) -> dg.SensorResult | dg.SkipReason:
    cursor = CoinCursor.load(context.cursor)
    latest = context.instance.fetch_materializations(raw_assets.key, limit=1).records
    if not latest:
        return dg.SkipReason("raw_assets has never been materialized")
    if cursor.after is not None and latest[0].storage_id <= cursor.after:
        return dg.SkipReason("no raw_assets materialization since the last tick")
    day, coins = postgres.store().latest_coins(RAW_ASSETS)
    cursor.after = latest[0].storage_id
    if day is None:
        return dg.SensorResult(skip_reason="no raw_assets rows in PostgreSQL", cursor=cursor.dump())
    known = cursor.known
    cursor.known = sorted(set(coins) | set(known or []))
    if known is None:
        return dg.SensorResult(
            skip_reason=f"learned {len(coins)} coins from the {day} snapshot", cursor=cursor.dump()
        )
    new = sorted(set(coins) - set(known))
    if not new:
        return dg.SensorResult(
            skip_reason=f"no new coins in the {day} snapshot", cursor=cursor.dump()
        )
    first, last = backfill_range(
        datetime.now(timezone.utc).date(), env_settings().new_coin_lookback_days
    )
    context.log.info(f"new coins {new} in the {day} snapshot: backfilling {first}...{last}")
    return dg.SensorResult(run_requests=[new_coin_request(new, first, last)], cursor=cursor.dump())


freshness_sensor = dg.build_sensor_for_freshness_checks(
    freshness_checks=freshness_checks, minimum_interval_seconds=600
)


def _failed_assets(context: dg.RunFailureSensorContext) -> str | None:
    """What failed, in asset terms: `asset_history`, or `asset_history (check valid_prices)` for
    a blocking check's step (found from the run's failed check evaluations); else the run's
    asset selection (a run that failed before any step)."""
    run = context.dagster_run
    names: dict[str, str] = {}
    for record in context.instance.all_logs(
        run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ):
        evaluation = record.dagster_event.event_specific_data if record.dagster_event else None
        if record.step_key and isinstance(evaluation, dg.AssetCheckEvaluation):
            if not evaluation.passed:
                names[record.step_key] = (
                    f"{evaluation.asset_key.to_user_string()} (check {evaluation.check_name})"
                )
    failed = sorted(
        {names.get(e.step_key, e.step_key) for e in context.get_step_failure_events() if e.step_key}
    )
    if failed:
        return ",".join(failed)
    if run.asset_selection:
        return ",".join(sorted(k.to_user_string() for k in run.asset_selection))
    return None


def _readable(message: str) -> str:
    """`dagster._core.definitions.events.Failure: unknown coin ...` -> `unknown coin ...`: the
    message a human acts on, without the exception's module path."""
    head, sep, rest = message.strip().partition(": ")
    if sep and "." in head and " " not in head:
        return rest
    return message.strip()


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
        _readable(e.event_specific_data.error.message)  # type: ignore[union-attr]
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
    url = env_settings().alert_webhook_url
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
    ops_log.record_failure(postgres.store(), failure, notified)


sensors = [new_coin_sensor, freshness_sensor, run_failure_alert]
