"""`daily_prices`: one price truth per coin per day, derived from the two sources' datasets.

It reads `asset_history` and `exchange_candles` for its partitions through the IO manager's
`load_input` (the typed tables, the same window), so the lineage in the asset graph is real:
a partition of daily_prices is computed from those two partitions and nothing else. The
computation is pure (`criptopipe.transform.prices`); only coins with a price in the window are
in the write's slice, so a coin missing from both inputs keeps its stored rows.
"""

import dagster as dg
import pandas as pd

from criptopipe.datasets import DAILY_PRICES
from criptopipe.defs.assets.common import DERIVED_ASSET, dataset_asset, metadata, short_list
from criptopipe.defs.partitions import window
from criptopipe.defs.types import checked_output
from criptopipe.pipeline.output import SliceOutput
from criptopipe.transform import prices
from criptopipe.transform.frames import fetch_time


@dataset_asset(
    DAILY_PRICES,
    deps=[],
    ins={"asset_history": dg.AssetIn(), "exchange_candles": dg.AssetIn()},
    **DERIVED_ASSET,
)
def daily_prices(
    context: dg.AssetExecutionContext,
    asset_history: pd.DataFrame,
    exchange_candles: pd.DataFrame,
) -> dg.Output[SliceOutput]:
    days = window(context)
    computed = prices.daily_prices(asset_history, exchange_candles, fetch_time())
    frame = DAILY_PRICES.frame(computed.rows)
    coins = sorted(set(frame["coin_id"])) if len(frame) else []
    output = checked_output(DAILY_PRICES, days.narrow(coins))
    if coins:
        output.add(frame)
    if computed.skipped_quotes:
        context.log.warning(
            f"left out (quote not a dollar, never converted): {', '.join(computed.skipped_quotes)}"
        )
    context.log.info(
        f"daily_prices {days.describe_days()}: {len(frame)} (coin, day) from "
        f"{len(asset_history)} CoinCap points and {len(exchange_candles)} candles"
    )
    spreads = [float(v) for v in frame["spread_pct"]] if len(frame) else []
    return dg.Output(
        output,
        metadata=metadata(
            {
                "coins": len(coins),
                "coin_ids": short_list(coins),
                "partitions": days.day_count,
                "rows_computed": len(frame),
                "input_history_rows": len(asset_history),
                "input_candle_rows": len(exchange_candles),
                "widest_spread_pct": round(max(spreads), 4) if spreads else 0.0,
                "skipped_quotes": computed.skipped_quotes,
                "rows_per_partition": {str(d): n for d, n in sorted(output.rows_per_day.items())},
            }
        ),
    )
