"""The three CoinCap assets, each daily-partitioned and written to PostgreSQL and MongoDB.

- `asset_history`: the d1 point of every day in the run's window for each tracked coin; a range
  is one run and one ranged request per coin (chunked by the span), never one request per day.
- `raw_assets`, `market_snapshots`: CoinCap serves only the present, so partition D is "the state
  at the close of UTC day D". Only the latest closed day (within the grace period) is fetched
  live; an older partition is rebuilt from the MongoDB raw archive, or fails saying why.

Each asset makes only the decisions that are its own (which coins, which days, live or
archive); spending credits goes through `Spend`, rows through the registry's dataset, and the
result to the IO manager as one `SliceOutput`.
"""

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta, timezone

import dagster as dg
import pandas as pd

from criptopipe.datasets import ASSET_HISTORY, MARKET_SNAPSHOTS, RAW_ASSETS, Dataset
from criptopipe.defs.assets.common import (
    COINCAP_ASSET,
    CoinsConfig,
    HistoryConfig,
    metadata,
    short_list,
    spend,
    step_failures,
)
from criptopipe.defs.partitions import window
from criptopipe.defs.resources import (
    CoinCapResource,
    CoinUniverseResource,
    MongoResource,
    PostgresResource,
)
from criptopipe.defs.types import checked_output, output_type
from criptopipe.pipeline import ingest, planner, snapshots
from criptopipe.pipeline.output import SliceOutput, batch_size
from criptopipe.sources.coincap.client import CoinCapClient
from criptopipe.storage.slices import Slice
from criptopipe.transform import coincap as rows
from criptopipe.transform.frames import fetch_time


@dg.asset(
    **COINCAP_ASSET,
    dagster_type=output_type(ASSET_HISTORY),
    description=ASSET_HISTORY.description,
)
def asset_history(
    context: dg.AssetExecutionContext,
    config: HistoryConfig,
    coincap: CoinCapResource,
    universe: CoinUniverseResource,
    postgres: PostgresResource,
) -> dg.Output[SliceOutput]:
    days = window(context)
    first, end = days.start, days.end
    tracked = universe.universe(config.coins)
    mode = "missing days only" if config.fill_gaps else "full window"
    context.log.info(f"asset_history {days.describe()} for {tracked.describe()} ({mode})")
    missing: dict[str, list[date]] = {}
    gap_count = 0

    with step_failures():
        session = spend(context, coincap, postgres, days)
        have: set[tuple[str, date]] = set()
        if config.fill_gaps:
            keys = postgres.store().keys(ASSET_HISTORY, days)
            have = {(str(coin), day) for coin, day in keys}
        span = coincap.span_days()
        if config.fill_gaps and tracked.coins:
            gaps = ingest.find_gaps(tracked.coins, first, end, have)
            estimate = sum(
                (planner.estimate_history(1, s, e, span) for _, s, e in gaps),
                planner.Estimate("asset_history", 0, 0, 0),
            )
        else:
            estimate = ASSET_HISTORY.estimate(
                planner.PlanRequest(
                    first=first,
                    end=end,
                    coins=len(tracked.coins) or tracked.top_n,
                    resolve_top_n=not tracked.coins,
                    live_days=0,
                    span_days=span,
                    markets_per_coin=None,
                )
            )
        session.guard(estimate, config.ignore_budget)

        def keep(output: SliceOutput, result: ingest.HistoryResult, slices: list[Slice]) -> None:
            output.add(ASSET_HISTORY.frame(rows.history_rows(result.series, fetch_time())), slices)
            missing.update(result.missing)

        async def work(client: CoinCapClient) -> SliceOutput:
            nonlocal gap_count
            coins = await ingest.resolve_coins(client, tracked)
            output = checked_output(ASSET_HISTORY, days.narrow(coins), spill=True)
            try:
                if config.fill_gaps:
                    gaps = ingest.find_gaps(coins, first, end, have)
                    gap_count = len(gaps)
                    context.log.info(
                        f"{len(gaps)} gap(s) covering {sum((e - s).days for _, s, e in gaps)} "
                        f"(coin, day) pairs; {len(have)} already loaded are left alone"
                    )
                    result = await ingest.fetch_gaps(client, gaps, context.log.info)
                    keep(output, result, [Slice(s, e, frozenset({c})) for c, s, e in gaps])
                    return output
                size = batch_size(days.day_count)
                for i in range(0, len(coins), size):
                    batch = coins[i : i + size]
                    result = await ingest.fetch_history(client, batch, first, end, context.log.info)
                    keep(output, result, [days.narrow(batch)])
                    if len(coins) > size:
                        context.log.info(
                            f"batch {i // size + 1}/{-(-len(coins) // size)} fetched and kept "
                            f"({output.rows} rows so far)"
                        )
            except BaseException:
                output.cleanup()
                raise
            return output

        output = session.fetch(work)

    holes = sum(len(d) for d in missing.values())
    if holes:
        context.log.warning(
            f"CoinCap has no d1 point for {holes} (coin, day) pairs in the window; "
            "they are reported in metadata, never invented"
        )
    coins = sorted(output.window.coins or [])
    return dg.Output(
        output,
        metadata=metadata(
            {
                **session.metadata(),
                "mode": mode,
                "gaps_fetched": gap_count,
                "coins": len(coins),
                "coin_ids": short_list(coins),
                "partitions": days.day_count,
                "rows_fetched": output.rows,
                "batches": output.batches,
                "rows_per_partition": {str(d): n for d, n in sorted(output.rows_per_day.items())},
                "missing_days": holes,
                "missing": {c: [str(d) for d in ds[:50]] for c, ds in list(missing.items())[:100]},
            }
        ),
    )


LiveFetch = Callable[[CoinCapClient, date, datetime], Awaitable[pd.DataFrame]]


def _snapshot(
    context: dg.AssetExecutionContext,
    ds: Dataset,
    config: CoinsConfig,
    resources: tuple[CoinCapResource, CoinUniverseResource, MongoResource, PostgresResource],
    live: LiveFetch,
) -> dg.Output[SliceOutput]:
    """Live for the latest closed day, from the archive for older ones, never for open days."""
    coincap, universe, mongo, postgres = resources
    days = window(context)
    tracked = universe.universe(config.coins)
    now = datetime.now(timezone.utc)
    grace = universe.grace_hours()
    plan = snapshots.plan_days(days.day_list(), now, timedelta(hours=grace))
    for day in plan.open:
        raise dg.Failure(
            description=f"{ds.name} partition {day} has not closed yet (it closes at "
            f"{day + timedelta(days=1)}T00:00Z): a snapshot is the state at the close of its "
            "day.",
            allow_retries=False,
        )
    parts: list[pd.DataFrame] = []
    with step_failures():
        for day in plan.archive:
            docs = mongo.store().read_slice(ds, Slice.days(day, day))
            if not docs:
                latest = (now - timedelta(days=1)).date()
                raise dg.Failure(
                    description=f"CoinCap keeps no history for {ds.name}: partition {day} (the "
                    f"state at the close of {day}) could only be fetched live within {grace:g}h "
                    f"after that day closed, and the MongoDB raw archive holds no {ds.name} "
                    f"documents for {day} to rebuild it from. Materialize the latest closed day "
                    f"({latest}) instead; older snapshot partitions exist only where they were "
                    "archived when live.",
                    allow_retries=False,
                )
            context.log.info(f"{ds.name} {day}: rebuilt from {len(docs)} archived documents")
            parts.append(ds.frame_from_documents(docs))

        session = spend(context, coincap, postgres, days)
        if plan.live:
            estimate = ds.estimate(
                planner.PlanRequest(
                    first=days.start,
                    end=days.end,
                    coins=len(tracked.coins) or tracked.top_n,
                    resolve_top_n=not tracked.coins,
                    live_days=len(plan.live),
                    span_days=coincap.span_days(),
                    markets_per_coin=universe.markets(),
                )
            )
            session.guard(estimate, config.ignore_budget)

            async def work(client: CoinCapClient) -> list[pd.DataFrame]:
                fetched_at = fetch_time()
                return [await live(client, day, fetched_at) for day in plan.live]

            parts.extend(session.fetch(work))

    frame = pd.concat(parts, ignore_index=True).astype(object) if parts else ds.empty()
    # a run for named coins replaces those coins' rows only, never the rest of the day
    output = checked_output(ds, days.narrow(config.coins or None))
    output.add(frame)
    return dg.Output(
        output,
        metadata=metadata(
            {
                **session.metadata(),
                "coins": int(frame["coin_id"].nunique()) if len(frame) else 0,
                "partitions": days.day_count,
                "live_partitions": ", ".join(map(str, plan.live)) or "none",
                "rebuilt_from_archive": len(plan.archive),
                "rows_per_partition": {str(d): n for d, n in sorted(output.rows_per_day.items())},
            }
        ),
    )


@dg.asset(**COINCAP_ASSET, dagster_type=output_type(RAW_ASSETS), description=RAW_ASSETS.description)
def raw_assets(
    context: dg.AssetExecutionContext,
    config: CoinsConfig,
    coincap: CoinCapResource,
    universe: CoinUniverseResource,
    mongo: MongoResource,
    postgres: PostgresResource,
) -> dg.Output[SliceOutput]:
    tracked = universe.universe(config.coins)

    async def live(client: CoinCapClient, day: date, fetched_at: datetime) -> pd.DataFrame:
        assets = await ingest.fetch_assets(client, tracked)
        context.log.info(f"raw_assets {day}: {len(assets)} assets ({tracked.describe()})")
        return RAW_ASSETS.frame(rows.asset_rows(assets, day, fetched_at))

    return _snapshot(context, RAW_ASSETS, config, (coincap, universe, mongo, postgres), live)


@dg.asset(
    **COINCAP_ASSET,
    dagster_type=output_type(MARKET_SNAPSHOTS),
    description=MARKET_SNAPSHOTS.description,
)
def market_snapshots(
    context: dg.AssetExecutionContext,
    config: CoinsConfig,
    coincap: CoinCapResource,
    universe: CoinUniverseResource,
    mongo: MongoResource,
    postgres: PostgresResource,
) -> dg.Output[SliceOutput]:
    tracked = universe.universe(config.coins)
    limit = universe.markets()

    async def live(client: CoinCapClient, day: date, fetched_at: datetime) -> pd.DataFrame:
        coins = await ingest.resolve_coins(client, tracked)
        markets = await ingest.fetch_markets(client, coins, limit, context.log.info)
        return MARKET_SNAPSHOTS.frame(rows.market_rows(markets, day, fetched_at))

    return _snapshot(context, MARKET_SNAPSHOTS, config, (coincap, universe, mongo, postgres), live)
