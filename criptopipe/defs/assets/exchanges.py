"""`exchange_candles`: closed daily candles of the tracked coins on each configured exchange.

Daily-partitioned like the CoinCap assets: a partition range is one run, and one request per
pair per `max candles` days (Binance 1000; Kraken one, its 720-day horizon) plus each exchange's
market load: the physical minimum. Coins map to markets by their CoinCap symbol, read from the
newest `raw_assets` snapshot in the warehouse (no CoinCap call, no credit): hence the dependency
on raw_assets' last partition. Days a pair has no candle for are reported with their reason
(not listed yet, delisted, beyond the exchange's horizon, missing), never invented; a pair that
answered nothing where the stores hold its rows keeps them (an empty answer never erases).
"""

from collections import Counter

import dagster as dg

from criptopipe.datasets import EXCHANGE_CANDLES, RAW_ASSETS
from criptopipe.defs.assets.common import (
    EXCHANGE_ASSET,
    CoinsConfig,
    dataset_asset,
    metadata,
    short_list,
    stores_ready,
)
from criptopipe.defs.assets.sources import EXCHANGE_OHLCV
from criptopipe.defs.exchange_resource import ExchangesResource
from criptopipe.defs.failures import step_failures
from criptopipe.defs.partitions import window
from criptopipe.defs.resources import CoinUniverseResource, MongoResource, PostgresResource
from criptopipe.defs.types import checked_output
from criptopipe.pipeline import planner
from criptopipe.pipeline.candles import CandleSpend, NoSymbolsError, write_slices
from criptopipe.pipeline.empty import EmptyAnswers
from criptopipe.pipeline.output import SliceOutput
from criptopipe.sources.exchanges.models import TrackedCoin
from criptopipe.storage.symbols import latest_symbols
from criptopipe.transform import exchanges as rows
from criptopipe.transform.frames import fetch_time


@dataset_asset(
    EXCHANGE_CANDLES,
    # the coins' CoinCap symbols come from the newest raw_assets snapshot
    deps=[EXCHANGE_OHLCV, dg.AssetDep("raw_assets", partition_mapping=dg.LastPartitionMapping())],
    **EXCHANGE_ASSET,
)
def exchange_candles(
    context: dg.AssetExecutionContext,
    config: CoinsConfig,
    exchanges: ExchangesResource,
    universe: CoinUniverseResource,
    postgres: PostgresResource,
    mongo: MongoResource,
) -> dg.Output[SliceOutput]:
    days = window(context)
    tracked = universe.universe(config.coins)
    settings = exchanges.exchange_settings()
    context.log.info(
        f"exchange_candles {days.describe_days()} for {tracked.describe()} on "
        f"{', '.join(settings.exchanges)}"
    )
    with step_failures(exchanges, universe, postgres, mongo):
        stores_ready(postgres, mongo)
        pg = postgres.store()
        known = latest_symbols(pg, RAW_ASSETS, tracked.coins, tracked.top_n)
        coins = [TrackedCoin(id=c, symbol=s) for c, (s, _) in sorted(known.items())]
        no_symbol = [c for c in tracked.coins if c not in known]
        if not coins:
            raise NoSymbolsError(
                f"no CoinCap symbol for {tracked.describe()} in {pg.qualified_name(RAW_ASSETS)}: "
                "coins are mapped to exchange markets by their CoinCap symbol, read from the "
                "newest raw_assets snapshot. Materialize raw_assets for the latest closed day "
                "first (`make run` does), then rerun."
            )
        session = CandleSpend(
            settings,
            pg,
            run_id=context.run.run_id,
            asset=context.asset_key.to_user_string(),
            window=days,
            log=context.log.info,
            warn=context.log.warning,
        )
        estimate = EXCHANGE_CANDLES.estimate(
            planner.PlanRequest(
                first=days.start,
                end=days.end,
                coins=len(tracked.coins) or tracked.top_n,
                resolve_top_n=False,
                live_days=0,
                span_days=1,
                markets_per_coin=None,
                exchanges=settings.exchanges,
            )
        )
        session.guard(estimate)
        result = session.fetch(coins, days.start, days.end)

        fetched = [p for p in result.pairs if p.fetch is not None]
        frame = EXCHANGE_CANDLES.frame(
            rows.candle_rows([(p.match, p.fetch.candles) for p in fetched], fetch_time())  # type: ignore[union-attr]
        )
        slices, left_out = write_slices(result.pairs, days.start, days.end)
        empties = EmptyAnswers(EXCHANGE_CANDLES, pg, mongo.store(), source="the exchange")
        slices = empties.narrow(slices, frame) if slices else []
        owned = sorted({pair for s in slices for pair in s.coins or ()})
        output = checked_output(EXCHANGE_CANDLES, days.narrow(owned))
        if slices:
            output.add(frame, slices)

    if warning := empties.warning(days.describe_days()):
        context.log.warning(warning)
    unavailable = {
        rows.pair_id(p.match.exchange, p.match.symbol): p.unavailable
        for p in result.pairs
        if p.unavailable
    }
    for pair, why in unavailable.items():
        context.log.warning(f"{pair}: {why}")
    gaps = [line for p in fetched for line in p.fetch.describe_gaps()]  # type: ignore[union-attr]
    gap_days = Counter(
        g.reason.value
        for p in fetched
        for g in p.fetch.gaps  # type: ignore[union-attr]
        for _ in range(g.days)
    )
    if gaps:
        context.log.info(f"{len(gaps)} gap(s) reported, (pair, day)s by reason: {dict(gap_days)}")
    return dg.Output(
        output,
        metadata=metadata(
            {
                **session.metadata(),
                **empties.metadata(),
                "exchanges": ", ".join(settings.exchanges),
                "pairs": len(owned),
                "pair_ids": short_list(owned),
                "partitions": days.day_count,
                "rows_fetched": output.rows,
                "rows_per_partition": {str(d): n for d, n in sorted(output.rows_per_day.items())},
                "missing_days": sum(gap_days.values()),
                "missing_days_by_reason": dict(gap_days),
                "gaps": gaps[:200],
                "unmapped": [p.message for p in result.problems][:200],
                "no_coincap_symbol": no_symbol,
                "unavailable_pairs": unavailable,
                "left_out_pairs": left_out,
                "symbols_from": f"{pg.qualified_name(RAW_ASSETS)} (newest snapshot per coin)",
            }
        ),
    )
