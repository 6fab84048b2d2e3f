"""Asset checks: structural rules block downstream use (ERROR, blocking); rules that real data
can break (CoinCap's holes, wild days, truncated market lists) warn. Each reads the slice the
run wrote (its partition window) from the stores, and records its verdict in
`coincap.check_results` for the dashboard. Freshness checks come from Dagster's builders.
"""

from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

import dagster as dg

from criptopipe.assets.coincap import asset_history, market_snapshots, raw_assets
from criptopipe.checks import rules
from criptopipe.partitions import daily_partitions
from criptopipe.resources import CoinUniverseResource, MongoResource, PostgresResource
from criptopipe.storage import ops_log
from criptopipe.storage.datasets import ASSET_HISTORY, MARKET_SNAPSHOTS, RAW_ASSETS, Dataset
from criptopipe.storage.slices import Slice

JUMP_THRESHOLD = 0.5


def _window(context: dg.AssetCheckExecutionContext) -> tuple[date, date, str]:
    """The run's partition window: one day, or a range (single-run backfills)."""
    if context.has_partition_key or context.has_partition_key_range:
        tw = context.partition_time_window
        first, end = tw.start.date(), tw.end.date()
    else:  # a check launched on its own without a partition: the newest closed day
        end = datetime.now(timezone.utc).date()
        first = end - timedelta(days=1)
    last = end - timedelta(days=1)
    return first, end, str(first) if first == last else f"{first}...{last}"


def _run_coins(context: dg.AssetCheckExecutionContext) -> list[str] | None:
    """The coins a run was narrowed to (`CoinsConfig.coins` of asset_history), if any."""
    config: Any = context.run.run_config
    for key in ("ops", "asset_history", "config", "coins"):
        config = config.get(key) if isinstance(config, Mapping) else None
    return [str(c) for c in config] if config else None


def _result(
    context: dg.AssetCheckExecutionContext,
    postgres: PostgresResource,
    ds: Dataset,
    name: str,
    verdict: rules.Verdict,
    severity: dg.AssetCheckSeverity,
    partition: str,
) -> dg.AssetCheckResult:
    try:
        ops_log.record_check(
            postgres.resolved_url(),
            postgres.resolved_schema(),
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


def _structural(asset: dg.AssetsDefinition, ds: Dataset) -> list[dg.AssetChecksDefinition]:
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
        first, end, part = _window(context)
        frame = postgres.store().read_slice(ds, Slice(first, end))
        verdict = rules.duplicate_keys(frame, ds.key)
        return _result(
            context, postgres, ds, "no_duplicate_keys", verdict, dg.AssetCheckSeverity.ERROR, part
        )

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
        first, end, part = _window(context)
        slc = Slice(first, end)
        verdict = rules.same_keys(postgres.store().keys(ds, slc), mongo.store().keys(ds, slc))
        return _result(
            context, postgres, ds, "stores_agree", verdict, dg.AssetCheckSeverity.ERROR, part
        )

    @dg.asset_check(
        asset=asset,
        name="valid_prices",
        blocking=True,
        partitions_def=daily_partitions,
        description="No null or negative prices in the slice.",
    )
    def valid_prices(
        context: dg.AssetCheckExecutionContext, postgres: PostgresResource
    ) -> dg.AssetCheckResult:
        first, end, part = _window(context)
        frame = postgres.store().read_slice(ds, Slice(first, end))
        verdict = rules.valid_prices(frame)
        return _result(
            context, postgres, ds, "valid_prices", verdict, dg.AssetCheckSeverity.ERROR, part
        )

    return [no_duplicate_keys, stores_agree, valid_prices]


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
        first, end, part = _window(context)
        held = _held_back(context, asset.key)
        verdict = rules.empty_answers(held, what, Slice(first, end).describe_days())
        return _result(
            context, postgres, ds, "empty_answers", verdict, dg.AssetCheckSeverity.WARN, part
        )

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
    first, end, part = _window(context)
    frame = postgres.store().read_slice(ASSET_HISTORY, Slice(first, end))
    tracked = universe.universe(_run_coins(context))
    present = sorted(set(frame["coin_id"])) if not frame.empty else []
    coins = list(tracked.coins) if tracked.coins else present
    verdict = rules.complete_days(frame, coins, first, end)
    return _result(
        context, postgres, ASSET_HISTORY, "complete_days", verdict, dg.AssetCheckSeverity.WARN, part
    )


@dg.asset_check(
    asset=asset_history,
    name="price_jumps",
    partitions_def=daily_partitions,
    description=f"No day-over-day price move beyond {JUMP_THRESHOLD:.0%} (a warning).",
)
def price_jumps(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource
) -> dg.AssetCheckResult:
    first, end, part = _window(context)
    # one day before the window, so the first day's move is checked too
    frame = postgres.store().read_slice(ASSET_HISTORY, Slice(first - timedelta(days=1), end))
    verdict = rules.price_jumps(frame, JUMP_THRESHOLD)
    return _result(
        context, postgres, ASSET_HISTORY, "price_jumps", verdict, dg.AssetCheckSeverity.WARN, part
    )


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
    first, end, part = _window(context)
    frame = postgres.store().read_slice(MARKET_SNAPSHOTS, Slice(first, end))
    verdict = rules.volume_shares(frame, universe.markets_per_coin)
    return _result(
        context,
        postgres,
        MARKET_SNAPSHOTS,
        "volume_shares",
        verdict,
        dg.AssetCheckSeverity.WARN,
        part,
    )


#: history is due by 03:00 UTC for the day that closed at midnight
freshness_checks = dg.build_time_partition_freshness_checks(
    assets=[asset_history, raw_assets, market_snapshots], deadline_cron="0 3 * * *", timezone="UTC"
)

quality_checks: list[dg.AssetChecksDefinition] = [
    *_structural(asset_history, ASSET_HISTORY),
    *_structural(raw_assets, RAW_ASSETS),
    *_structural(market_snapshots, MARKET_SNAPSHOTS),
    complete_days,
    price_jumps,
    volume_shares,
    _empty_answers(asset_history, ASSET_HISTORY, "history points"),
    _empty_answers(market_snapshots, MARKET_SNAPSHOTS, "markets"),
]
