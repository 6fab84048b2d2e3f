"""Asset checks: structural rules block downstream use (ERROR, blocking); rules that real data
can break (CoinCap's holes, wild days, truncated market lists) warn. Each reads the slice the
run wrote (its partition window, narrowed to the run's coins) from the stores, and records its
verdict in `coincap.check_results` for the dashboard. The structural checks are built for every
dataset of the registry that has an asset. Freshness is a policy on the assets, not a check.

The checks are not partitioned, on purpose. Dagster 1.13 can key a check's result to a
partition (a preview feature) only when the step has ONE partition: a single-run backfill plans
a row per partition of the range, then records its one evaluation with no partition, so every
day of the range reads "Skipped" in the UI although the check ran and passed. Unpartitioned,
each run records one evaluation per check, over the run's whole window (named in the
`partitions` metadata), tied to the materialization it checked; the Checks tab shows it.
"""

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import dagster as dg

from criptopipe import datasets
from criptopipe import quality as rules
from criptopipe.datasets import ASSET_HISTORY, MARKET_SNAPSHOTS, Dataset
from criptopipe.defs.assets import coincap_assets
from criptopipe.defs.assets.coincap import asset_history, market_snapshots
from criptopipe.defs.assets.common import CoinsConfig
from criptopipe.defs.resources import CoinUniverseResource, MongoResource, PostgresResource
from criptopipe.storage import ops_log
from criptopipe.storage.slices import Slice

JUMP_THRESHOLD = 0.5


def _target_run(context: dg.AssetCheckExecutionContext, key: dg.AssetKey) -> dg.DagsterRun:
    """The run whose write the check reads: its own when it has partitions (the asset's run,
    or checks run for a partition); else, as when the UI executes a check on its own, the run
    of the asset's latest materialization."""
    if context.has_partition_key or context.has_partition_key_range:
        return context.run
    latest = context.instance.get_latest_materialization_event(key)
    run = context.instance.get_run_by_id(latest.run_id) if latest is not None else None
    if run is None:
        raise dg.Failure(
            description=f"{key.to_user_string()} has not been materialized yet: nothing to check.",
            allow_retries=False,
        )
    return run


def check_window(context: dg.AssetCheckExecutionContext, key: dg.AssetKey) -> Slice:
    """The days the check reads: its run's partition or range, or the days of the run that
    last materialized the asset."""
    if context.has_partition_key or context.has_partition_key_range:
        # the run's tags: an unpartitioned check in a run of checks alone has no partitions
        # definition to read a time window from
        keys = context.partition_key_range
        return Slice.days(date.fromisoformat(keys.start), date.fromisoformat(keys.end))
    tags = _target_run(context, key).tags
    first = tags.get("dagster/asset_partition_range_start") or tags.get("dagster/partition")
    last = tags.get("dagster/asset_partition_range_end") or first
    if not first or not last:
        raise dg.Failure(
            description=f"the latest materialization of {key.to_user_string()} names no "
            "partition: run the checks for a partition or a range.",
            allow_retries=False,
        )
    return Slice.days(date.fromisoformat(first), date.fromisoformat(last))


def run_coins(context: dg.AssetCheckExecutionContext, asset: str) -> list[str] | None:
    """The coins the checked run narrowed `asset` to, read with the asset's own config model."""
    ops: Any = _target_run(context, dg.AssetKey(asset)).run_config.get("ops", {})
    raw = ops.get(asset, {}).get("config", {}) if isinstance(ops, Mapping) else {}
    coins = CoinsConfig.model_validate({"coins": (raw or {}).get("coins") or []}).coins
    return coins or None


def _label(slc: Slice) -> str:
    return str(slc.start) if slc.start == slc.last else f"{slc.start}...{slc.last}"


def _result(
    context: dg.AssetCheckExecutionContext,
    postgres: PostgresResource,
    ds: Dataset,
    name: str,
    verdict: rules.Verdict,
    severity: dg.AssetCheckSeverity,
    slc: Slice,
) -> dg.AssetCheckResult:
    partition = _label(slc)
    try:
        ops_log.record_check(
            postgres.store(),
            ops_log.CheckRecord(
                ds.name,
                name,
                partition,
                verdict.passed,
                severity.value,
                verdict.description,
                verdict.metadata,
            ),
        )
    except Exception as exc:  # the log must never hide the verdict
        context.log.warning(f"could not record the check result: {exc}")
    return dg.AssetCheckResult(
        passed=verdict.passed,
        severity=severity,
        description=verdict.description,
        metadata={
            "partitions": partition,
            **{
                k: dg.MetadataValue.json(v) if isinstance(v, (dict, list)) else v
                for k, v in verdict.metadata.items()
            },
        },
    )


def structural_checks(asset: dg.AssetsDefinition, ds: Dataset) -> list[dg.AssetChecksDefinition]:
    """Blocking checks every dataset gets: unique keys, both stores agree, valid prices."""

    @dg.asset_check(
        asset=asset,
        name="no_duplicate_keys",
        blocking=True,
        description=f"No two rows of the slice share ({', '.join(ds.key)}).",
    )
    def no_duplicate_keys(
        context: dg.AssetCheckExecutionContext, postgres: PostgresResource
    ) -> dg.AssetCheckResult:
        slc = check_window(context, asset.key)
        verdict = rules.duplicate_keys(postgres.store().read_slice(ds, slc), ds.key)
        severity = dg.AssetCheckSeverity.ERROR
        return _result(context, postgres, ds, "no_duplicate_keys", verdict, severity, slc)

    @dg.asset_check(
        asset=asset,
        name="stores_agree",
        blocking=True,
        description="PostgreSQL and MongoDB hold the same keys for the slice.",
    )
    def stores_agree(
        context: dg.AssetCheckExecutionContext, postgres: PostgresResource, mongo: MongoResource
    ) -> dg.AssetCheckResult:
        slc = check_window(context, asset.key)
        verdict = rules.same_keys(postgres.store().keys(ds, slc), mongo.store().keys(ds, slc))
        severity = dg.AssetCheckSeverity.ERROR
        return _result(context, postgres, ds, "stores_agree", verdict, severity, slc)

    checks = [no_duplicate_keys, stores_agree]
    price = ds.price_column
    if price is None:
        return checks

    @dg.asset_check(
        asset=asset,
        name="valid_prices",
        blocking=True,
        description=f"No null or negative {price} in the slice.",
    )
    def valid_prices(
        context: dg.AssetCheckExecutionContext, postgres: PostgresResource
    ) -> dg.AssetCheckResult:
        slc = check_window(context, asset.key)
        verdict = rules.valid_prices(postgres.store().read_slice(ds, slc), price)
        severity = dg.AssetCheckSeverity.ERROR
        return _result(context, postgres, ds, "valid_prices", verdict, severity, slc)

    return [*checks, valid_prices]


def _held_back(context: dg.AssetCheckExecutionContext, key: dg.AssetKey) -> dict[str, int]:
    """What the asset's write held back (`held_back` in its materialization metadata): this
    run's materialization, or the latest one when the check runs on its own."""
    instance = context.instance
    entries = [
        e
        for e in instance.all_logs(
            context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        )
        if e.asset_materialization is not None and e.asset_materialization.asset_key == key
    ]
    if not entries:
        latest = instance.get_latest_materialization_event(key)
        entries = [latest] if latest is not None else []
    for entry in reversed(entries):
        mat = entry.asset_materialization
        value = mat.metadata.get("held_back") if mat is not None else None
        if isinstance(value, dg.JsonMetadataValue) and isinstance(value.value, dict):
            return {str(c): int(n) for c, n in value.value.items()}
    return {}


def _empty_answers(asset: dg.AssetsDefinition, ds: Dataset, what: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name="empty_answers",
        description=f"CoinCap answered {what} for every coin whose rows the stores hold; a coin "
        "it answered nothing for is left out of the write and named here (a warning).",
    )
    def empty_answers(
        context: dg.AssetCheckExecutionContext, postgres: PostgresResource
    ) -> dg.AssetCheckResult:
        slc = check_window(context, asset.key)
        held = _held_back(context, asset.key)
        verdict = rules.empty_answers(held, what, slc.describe_days())
        severity = dg.AssetCheckSeverity.WARN
        return _result(context, postgres, ds, "empty_answers", verdict, severity, slc)

    return empty_answers


@dg.asset_check(
    asset=asset_history,
    name="complete_days",
    description="Every tracked coin has a row for every day (CoinCap has holes: a warning).",
)
def complete_days(
    context: dg.AssetCheckExecutionContext,
    postgres: PostgresResource,
    universe: CoinUniverseResource,
) -> dg.AssetCheckResult:
    """Tracked coins: the run's `coins` when it was narrowed, else the configured list; with a
    top-N universe (no list without a CoinCap call) the coins present in the slice."""
    slc = check_window(context, asset_history.key)
    frame = postgres.store().read_slice(ASSET_HISTORY, slc)
    tracked = universe.universe(run_coins(context, ASSET_HISTORY.name))
    present = sorted(set(frame["coin_id"])) if not frame.empty else []
    coins = list(tracked.coins) if tracked.coins else present
    verdict = rules.complete_days(frame, coins, slc.start, slc.end)
    severity = dg.AssetCheckSeverity.WARN
    return _result(context, postgres, ASSET_HISTORY, "complete_days", verdict, severity, slc)


@dg.asset_check(
    asset=asset_history,
    name="price_jumps",
    description=f"No day-over-day price move beyond {JUMP_THRESHOLD:.0%} (a warning).",
)
def price_jumps(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource
) -> dg.AssetCheckResult:
    slc = check_window(context, asset_history.key)
    # one day before the window, so the first day's move is checked too
    frame = postgres.store().read_slice(
        ASSET_HISTORY, Slice(slc.start - timedelta(days=1), slc.end)
    )
    verdict = rules.price_jumps(frame, JUMP_THRESHOLD)
    severity = dg.AssetCheckSeverity.WARN
    return _result(context, postgres, ASSET_HISTORY, "price_jumps", verdict, severity, slc)


@dg.asset_check(
    asset=market_snapshots,
    name="volume_shares",
    description="Each coin's market volume shares add up to about 100% (a warning).",
)
def volume_shares(
    context: dg.AssetCheckExecutionContext,
    postgres: PostgresResource,
    universe: CoinUniverseResource,
) -> dg.AssetCheckResult:
    slc = check_window(context, market_snapshots.key)
    frame = postgres.store().read_slice(MARKET_SNAPSHOTS, slc)
    verdict = rules.volume_shares(frame, universe.markets())
    severity = dg.AssetCheckSeverity.WARN
    return _result(context, postgres, MARKET_SNAPSHOTS, "volume_shares", verdict, severity, slc)


def _structural_for(assets: Sequence[dg.AssetsDefinition]) -> list[dg.AssetChecksDefinition]:
    return [
        check
        for asset in assets
        for check in structural_checks(asset, datasets.get(asset.key.path[-1]))
    ]


quality_checks: list[dg.AssetChecksDefinition] = [
    *_structural_for(coincap_assets),
    complete_days,
    price_jumps,
    volume_shares,
    _empty_answers(asset_history, ASSET_HISTORY, "history points"),
    _empty_answers(market_snapshots, MARKET_SNAPSHOTS, "markets"),
]

coincap_checks: list[dg.AssetChecksDefinition] = quality_checks
