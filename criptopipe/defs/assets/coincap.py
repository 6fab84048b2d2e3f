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

from datetime import date, datetime

import dagster as dg
import pandas as pd

from criptopipe.datasets import ASSET_HISTORY, MARKET_SNAPSHOTS, RAW_ASSETS
from criptopipe.defs.assets.common import (
    CoinsConfig,
    HistoryConfig,
    dataset_asset,
    metadata,
    short_list,
    spend,
    stores_ready,
)
from criptopipe.defs.assets.snapshot import snapshot
from criptopipe.defs.assets.sources import ASSETS_ROUTE, HISTORY_ROUTE, MARKETS_ROUTE
from criptopipe.defs.failures import step_failures
from criptopipe.defs.partitions import window
from criptopipe.defs.resources import (
    CoinCapResource,
    CoinUniverseResource,
    MongoResource,
    PostgresResource,
)
from criptopipe.defs.types import checked_output
from criptopipe.pipeline import ingest, planner
from criptopipe.pipeline.empty import EmptyAnswers
from criptopipe.pipeline.output import SliceOutput, batch_size
from criptopipe.sources.coincap.client import CoinCapClient
from criptopipe.storage.slices import Slice
from criptopipe.transform import coincap as rows
from criptopipe.transform.frames import fetch_time


# the top-N universe comes from GET /assets (no coin ids configured)
@dataset_asset(ASSET_HISTORY, deps=[HISTORY_ROUTE, ASSETS_ROUTE])
def asset_history(
    context: dg.AssetExecutionContext,
    config: HistoryConfig,
    coincap: CoinCapResource,
    universe: CoinUniverseResource,
    postgres: PostgresResource,
    mongo: MongoResource,
) -> dg.Output[SliceOutput]:
    days = window(context)
    first, end = days.start, days.end
    tracked = universe.universe(config.coins)
    mode = "missing days only" if config.fill_gaps else "full window"
    context.log.info(f"asset_history {days.describe()} for {tracked.describe()} ({mode})")
    missing: dict[str, list[date]] = {}
    gap_count = 0

    with step_failures(coincap, universe, postgres, mongo):
        stores_ready(postgres, mongo)
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
        empties = EmptyAnswers(ASSET_HISTORY, postgres.store(), mongo.store())

        def keep(output: SliceOutput, frame: pd.DataFrame, slices: list[Slice]) -> None:
            """Coins CoinCap answered nothing for where the stores hold rows are left out of
            the batch's slices (an empty answer never erases history)."""
            slices = empties.narrow(slices, frame)
            if slices:  # else every coin of the batch was held back: nothing to replace
                output.add(frame, slices)

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
                    missing.update(result.missing)
                    frame = ASSET_HISTORY.frame(rows.history_rows(result.series, fetch_time()))
                    keep(output, frame, [Slice(s, e, frozenset({c})) for c, s, e in gaps])
                    return output
                size = batch_size(days.day_count)
                answered = False
                for i in range(0, len(coins), size):
                    batch = coins[i : i + size]
                    result = await ingest.fetch_history(client, batch, first, end, context.log.info)
                    missing.update(result.missing)
                    frame = ASSET_HISTORY.frame(rows.history_rows(result.series, fetch_time()))
                    answered = answered or not frame.empty
                    if i + size >= len(coins) and not answered:
                        # every coin came back empty: fail before anything is written
                        raise ingest.EmptyAnswerError.for_coins(
                            "asset_history points", coins, days.describe_days()
                        )
                    keep(output, frame, [days.narrow(batch)])
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

    if warning := empties.warning(days.describe_days()):
        context.log.warning(warning)
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
                **empties.metadata(),
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


@dataset_asset(RAW_ASSETS, deps=[ASSETS_ROUTE])
def raw_assets(
    context: dg.AssetExecutionContext,
    config: CoinsConfig,
    coincap: CoinCapResource,
    universe: CoinUniverseResource,
    mongo: MongoResource,
    postgres: PostgresResource,
) -> dg.Output[SliceOutput]:
    tracked = universe.universe(config.coins)

    async def live(
        client: CoinCapClient, day: date, fetched_at: datetime
    ) -> tuple[pd.DataFrame, list[str]]:
        assets = await ingest.fetch_assets(client, tracked)
        context.log.info(f"raw_assets {day}: {len(assets)} assets ({tracked.describe()})")
        return RAW_ASSETS.frame(rows.asset_rows(assets, day, fetched_at)), [a.id for a in assets]

    resources = (coincap, universe, mongo, postgres)
    return snapshot(context, RAW_ASSETS, config, resources, live, "assets")


@dataset_asset(MARKET_SNAPSHOTS, deps=[MARKETS_ROUTE, ASSETS_ROUTE])
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

    async def live(
        client: CoinCapClient, day: date, fetched_at: datetime
    ) -> tuple[pd.DataFrame, list[str]]:
        coins = await ingest.resolve_coins(client, tracked)
        markets = await ingest.fetch_markets(client, coins, limit, context.log.info)
        return MARKET_SNAPSHOTS.frame(rows.market_rows(markets, day, fetched_at)), coins

    resources = (coincap, universe, mongo, postgres)
    return snapshot(context, MARKET_SNAPSHOTS, config, resources, live, "markets")
