"""Sensors: new coins and failed runs (freshness is a policy on the assets, needing no sensor).

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
- `run_failure_alert`: every failed run of the instance, whoever launched it, recorded in
  `coincap.run_failures` and POSTed to CRIPTOPIPE_ALERT_WEBHOOK_URL, once per run (the assets'
  failure hook may have done it already: criptopipe/run_alerts.py).

`new_coin_sensor` ships STOPPED, like the schedules (it launches runs that spend credits): turn
it on in the UI (Automation) or with `dagster sensor start new_coin_sensor -w workspace.yaml`;
docs/operations.md says when. `run_failure_alert` ships RUNNING.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import dagster as dg

from criptopipe.datasets import RAW_ASSETS
from criptopipe.defs import run_alerts
from criptopipe.defs.assets.coincap import raw_assets
from criptopipe.defs.jobs import history_job
from criptopipe.defs.partitions import START_DATE
from criptopipe.defs.resources import PostgresResource, env_settings


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


@dg.run_failure_sensor(
    name="run_failure_alert",
    # Every run of the instance. Without it Dagster only hands the sensor runs whose origin is
    # this code location, and `dagster asset materialize` runs have no origin: they were silent.
    monitor_all_code_locations=True,
    # On by default, unlike the rest: it spends no credits, and an alert that has to be turned
    # on is an alert that stays silent.
    default_status=dg.DefaultSensorStatus.RUNNING,
    # what the hook cannot report (a failed blocking check, a run that died) within ~10 s
    minimum_interval_seconds=10,
    description="Records every failed run in coincap.run_failures and POSTs it once to "
    "CRIPTOPIPE_ALERT_WEBHOOK_URL (unless the assets' failure hook already did).",
)
def run_failure_alert(context: dg.RunFailureSensorContext, postgres: PostgresResource) -> None:
    outcome = run_alerts.deliver(
        context.instance,
        context.dagster_run,
        postgres,
        context.log,
        run_message=run_alerts.run_error(context.failure_event),
    )
    if not outcome.recorded:
        context.log.info(f"run {context.dagster_run.run_id} was already recorded (by the hook)")


sensors = [new_coin_sensor, run_failure_alert]
