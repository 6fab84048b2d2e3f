"""The asset checks. Structural rules block downstream use (ERROR, blocking); rules that real
data can break (CoinCap's holes, wild days, truncated market lists) warn. Each reads the slice
the run wrote (its partition window) from the stores once, applies a rule of
`criptopipe.quality` to it and to each of its days, and reports through `results.report`.

The checks share their asset's partitions, so they are built for the partitions the
definitions load with (`build_checks`; the snapshot start is configured). Freshness is a policy
on the assets, not a check.
"""

import warnings
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, cast

import dagster as dg
import pandas as pd

from criptopipe import quality as rules
from criptopipe.datasets import ASSET_HISTORY, MARKET_SNAPSHOTS, RAW_ASSETS, Dataset
from criptopipe.defs.checks.results import (
    Check,
    Reported,
    all_days,
    by_day,
    check_window,
    held_back,
    report,
    run_coins,
)
from criptopipe.defs.partitions import daily_partitions
from criptopipe.defs.resources import CoinUniverseResource, MongoResource, PostgresResource
from criptopipe.storage.slices import Slice

JUMP_THRESHOLD = 0.5
ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN

CheckFn = Callable[..., Reported]


def _asset_check(
    ds: Dataset, partitions_def: dg.PartitionsDefinition, **kwargs: Any
) -> Callable[[CheckFn], dg.AssetChecksDefinition]:
    def decorate(fn: CheckFn) -> dg.AssetChecksDefinition:
        with warnings.catch_warnings():
            # a partitioned check is a preview feature in Dagster 1.13, and the only way a
            # result is keyed to its day, as the UI shows it (results.py): kept, this one
            # warning silenced
            warnings.filterwarnings(
                "ignore", message="Specifying a partitions_def", category=dg.PreviewWarning
            )
            # a generator of results (results.report), which Dagster runs like one returning one
            check = dg.asset_check(asset=ds.name, partitions_def=partitions_def, **kwargs)
            return check(cast(Any, fn))

    return decorate


def structural_checks(
    ds: Dataset, partitions_def: dg.PartitionsDefinition
) -> list[dg.AssetChecksDefinition]:
    """Blocking checks every dataset gets: unique keys, both stores agree, valid prices."""
    day_of = ds.key.index(ds.partition_column)

    @_asset_check(
        ds,
        partitions_def,
        name="no_duplicate_keys",
        blocking=True,
        description=f"No two rows of the slice share ({', '.join(ds.key)}).",
    )
    def no_duplicate_keys(
        context: dg.AssetCheckExecutionContext, postgres: PostgresResource
    ) -> Reported:
        slc = check_window(context)
        frame = postgres.store().read_slice(ds, slc)
        rows = by_day(frame, ds.partition_column)
        yield from report(
            context,
            postgres,
            Check(ds, "no_duplicate_keys", ERROR, blocking=True),
            slc,
            rules.duplicate_keys(frame, ds.key),
            lambda day: rules.duplicate_keys(rows(day), ds.key),
        )

    @_asset_check(
        ds,
        partitions_def,
        name="stores_agree",
        blocking=True,
        description="PostgreSQL and MongoDB hold the same keys for the slice.",
    )
    def stores_agree(
        context: dg.AssetCheckExecutionContext, postgres: PostgresResource, mongo: MongoResource
    ) -> Reported:
        slc = check_window(context)
        pg, docs = postgres.store().keys(ds, slc), mongo.store().keys(ds, slc)

        def on(day: date, keys: set[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
            return {k for k in keys if k[day_of] == day}

        yield from report(
            context,
            postgres,
            Check(ds, "stores_agree", ERROR, blocking=True),
            slc,
            rules.same_keys(pg, docs),
            lambda day: rules.same_keys(on(day, pg), on(day, docs)),
        )

    checks = [no_duplicate_keys, stores_agree]
    price = ds.price_column
    if price is None:
        return checks

    @_asset_check(
        ds,
        partitions_def,
        name="valid_prices",
        blocking=True,
        description=f"No null or negative {price} in the slice.",
    )
    def valid_prices(
        context: dg.AssetCheckExecutionContext, postgres: PostgresResource
    ) -> Reported:
        slc = check_window(context)
        frame = postgres.store().read_slice(ds, slc)
        rows = by_day(frame, ds.partition_column)
        yield from report(
            context,
            postgres,
            Check(ds, "valid_prices", ERROR, blocking=True),
            slc,
            rules.valid_prices(frame, price),
            lambda day: rules.valid_prices(rows(day), price),
        )

    return [*checks, valid_prices]


def empty_answers_check(
    ds: Dataset, partitions_def: dg.PartitionsDefinition, what: str
) -> dg.AssetChecksDefinition:
    @_asset_check(
        ds,
        partitions_def,
        name="empty_answers",
        description=f"CoinCap answered {what} for every coin whose rows the stores hold; a coin "
        "it answered nothing for is left out of the write and named here (a warning).",
    )
    def empty_answers(
        context: dg.AssetCheckExecutionContext, postgres: PostgresResource
    ) -> Reported:
        slc = check_window(context)
        held = held_back(context, dg.AssetKey(ds.name))
        # a coin held back had no answer for the whole window: so for each of its days
        verdict = rules.empty_answers(held, what, slc.describe_days())
        check = Check(ds, "empty_answers", WARN)
        yield from report(context, postgres, check, slc, verdict, lambda _: verdict)

    return empty_answers


def history_checks() -> list[dg.AssetChecksDefinition]:
    ds = ASSET_HISTORY

    @_asset_check(
        ds,
        daily_partitions,
        name="complete_days",
        description="Every tracked coin has a row for every day (CoinCap has holes: a warning).",
    )
    def complete_days(
        context: dg.AssetCheckExecutionContext,
        postgres: PostgresResource,
        universe: CoinUniverseResource,
    ) -> Reported:
        """Tracked coins: the run's `coins` when it was narrowed, else the configured list; with
        a top-N universe (no list without a CoinCap call) the coins present in the slice."""
        slc = check_window(context)
        frame = postgres.store().read_slice(ds, slc)
        tracked = universe.universe(run_coins(context, ds.name))
        present = sorted(set(frame["coin_id"])) if not frame.empty else []
        coins = list(tracked.coins) if tracked.coins else present
        rows = by_day(frame, ds.partition_column)
        yield from report(
            context,
            postgres,
            Check(ds, "complete_days", WARN),
            slc,
            rules.complete_days(frame, coins, slc.start, slc.end),
            lambda day: rules.complete_days(rows(day), coins, day, day + timedelta(days=1)),
        )

    @_asset_check(
        ds,
        daily_partitions,
        name="price_jumps",
        description=f"No day-over-day price move beyond {JUMP_THRESHOLD:.0%} (a warning).",
    )
    def price_jumps(context: dg.AssetCheckExecutionContext, postgres: PostgresResource) -> Reported:
        slc = check_window(context)
        # one day before the window, so the first day's move is checked too
        frame = postgres.store().read_slice(ds, Slice(slc.start - timedelta(days=1), slc.end))
        rows = by_day(frame, ds.partition_column)

        def moves_into(day: date) -> rules.Verdict:
            """The moves landing on `day`: its rows and the day before's."""
            pair = pd.concat([rows(day - timedelta(days=1)), rows(day)], ignore_index=True)
            return rules.price_jumps(pair, JUMP_THRESHOLD)

        yield from report(
            context,
            postgres,
            Check(ds, "price_jumps", WARN),
            slc,
            rules.price_jumps(frame, JUMP_THRESHOLD),
            moves_into,
        )

    return [complete_days, price_jumps]


def snapshot_checks(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    ds = MARKET_SNAPSHOTS

    @_asset_check(
        ds,
        partitions_def,
        name="volume_shares",
        description="Each coin's market volume shares add up to about 100% (a warning).",
    )
    def volume_shares(
        context: dg.AssetCheckExecutionContext,
        postgres: PostgresResource,
        universe: CoinUniverseResource,
    ) -> Reported:
        slc = check_window(context)
        frame = postgres.store().read_slice(ds, slc)
        rows = by_day(frame, ds.partition_column)
        limit = universe.markets()
        yield from report(
            context,
            postgres,
            Check(ds, "volume_shares", WARN),
            slc,
            # each day on its own: a coin's shares add up within one snapshot, not across days
            all_days(slc, lambda day: rules.volume_shares(rows(day), limit)),
            lambda day: rules.volume_shares(rows(day), limit),
        )

    return [volume_shares]


def build_checks(snapshots: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    """Every check, the snapshot datasets' over `snapshots` (their configured start)."""
    return [
        *structural_checks(ASSET_HISTORY, daily_partitions),
        *structural_checks(RAW_ASSETS, snapshots),
        *structural_checks(MARKET_SNAPSHOTS, snapshots),
        *history_checks(),
        *snapshot_checks(snapshots),
        empty_answers_check(ASSET_HISTORY, daily_partitions, "history points"),
        empty_answers_check(MARKET_SNAPSHOTS, snapshots, "markets"),
    ]
