"""Asset checks: structural rules block downstream use (ERROR, blocking); rules that real data
can break (CoinCap's holes, wild days, truncated market lists) warn. Each reads the slice the
run wrote (its partition window, narrowed to the run's coins) from the stores, and records its
verdict in `coincap.check_results` for the dashboard. The structural checks are built for every
dataset of the registry that has an asset; freshness checks come from Dagster's builders.
"""

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import dagster as dg

from criptopipe import datasets
from criptopipe import quality as rules
from criptopipe.datasets import ASSET_HISTORY, MARKET_SNAPSHOTS, Dataset
from criptopipe.defs.assets import coincap_assets
from criptopipe.defs.assets.coincap import asset_history, market_snapshots
from criptopipe.defs.assets.common import CoinsConfig
from criptopipe.defs.partitions import daily_partitions, window
from criptopipe.defs.resources import CoinUniverseResource, MongoResource, PostgresResource
from criptopipe.storage import ops_log
from criptopipe.storage.errors import scrub
from criptopipe.storage.slices import Slice

JUMP_THRESHOLD = 0.5


def run_coins(context: dg.AssetCheckExecutionContext, asset: str) -> list[str] | None:
    """The coins the run narrowed `asset` to, read with the asset's own config model."""
    ops: Any = context.run.run_config.get("ops", {})
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
        said = scrub(str(exc), *postgres.secrets())
        context.log.warning(f"could not record the check result: {said}")
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
        partitions_def=daily_partitions,
        description=f"No two rows of the slice share ({', '.join(ds.key)}).",
    )
    def no_duplicate_keys(
        context: dg.AssetCheckExecutionContext, postgres: PostgresResource
    ) -> dg.AssetCheckResult:
        slc = window(context)
        verdict = rules.duplicate_keys(postgres.store().read_slice(ds, slc), ds.key)
        severity = dg.AssetCheckSeverity.ERROR
        return _result(context, postgres, ds, "no_duplicate_keys", verdict, severity, slc)

    @dg.asset_check(
        asset=asset,
        name="stores_agree",
        blocking=True,
        partitions_def=daily_partitions,
        description="PostgreSQL and MongoDB hold the same keys for the slice.",
    )
    def stores_agree(
        context: dg.AssetCheckExecutionContext, postgres: PostgresResource, mongo: MongoResource
    ) -> dg.AssetCheckResult:
        slc = window(context)
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
        partitions_def=daily_partitions,
        description=f"No null or negative {price} in the slice.",
    )
    def valid_prices(
        context: dg.AssetCheckExecutionContext, postgres: PostgresResource
    ) -> dg.AssetCheckResult:
        slc = window(context)
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
        partitions_def=daily_partitions,
        description=f"CoinCap answered {what} for every coin whose rows the stores hold; a coin "
        "it answered nothing for is left out of the write and named here (a warning).",
    )
    def empty_answers(
        context: dg.AssetCheckExecutionContext, postgres: PostgresResource
    ) -> dg.AssetCheckResult:
        slc = window(context)
        held = _held_back(context, asset.key)
        verdict = rules.empty_answers(held, what, slc.describe_days())
        severity = dg.AssetCheckSeverity.WARN
        return _result(context, postgres, ds, "empty_answers", verdict, severity, slc)

    return empty_answers


@dg.asset_check(
    asset=asset_history,
    name="complete_days",
    partitions_def=daily_partitions,
    description="Every tracked coin has a row for every day (CoinCap has holes: a warning).",
)
def complete_days(
    context: dg.AssetCheckExecutionContext,
    postgres: PostgresResource,
    universe: CoinUniverseResource,
) -> dg.AssetCheckResult:
    """Tracked coins: the run's `coins` when it was narrowed, else the configured list; with a
    top-N universe (no list without a CoinCap call) the coins present in the slice."""
    slc = window(context)
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
    partitions_def=daily_partitions,
    description=f"No day-over-day price move beyond {JUMP_THRESHOLD:.0%} (a warning).",
)
def price_jumps(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource
) -> dg.AssetCheckResult:
    slc = window(context)
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
    partitions_def=daily_partitions,
    description="Each coin's market volume shares add up to about 100% (a warning).",
)
def volume_shares(
    context: dg.AssetCheckExecutionContext,
    postgres: PostgresResource,
    universe: CoinUniverseResource,
) -> dg.AssetCheckResult:
    slc = window(context)
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


#: history is due by 03:00 UTC for the day that closed at midnight
freshness_checks = dg.build_time_partition_freshness_checks(
    assets=list(coincap_assets), deadline_cron="0 3 * * *", timezone="UTC"
)

quality_checks: list[dg.AssetChecksDefinition] = [
    *_structural_for(coincap_assets),
    complete_days,
    price_jumps,
    volume_shares,
    _empty_answers(asset_history, ASSET_HISTORY, "history points"),
    _empty_answers(market_snapshots, MARKET_SNAPSHOTS, "markets"),
]

coincap_checks: list[dg.AssetChecksDefinition] = [*quality_checks, *freshness_checks]
