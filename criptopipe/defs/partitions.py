"""The daily partitions every asset shares, and the one place a run's window is read from Dagster.

Partition D is the UTC day D. Dagster's daily partitions end at the last *complete* day, so the
newest partition is always yesterday (UTC). The start covers CoinCap's history (bitcoin's daily
series begins in 2013). `window(context)` turns whatever context a step has (asset, check, IO
manager output or input) into the `Slice` of its partition or partition range.
"""

from __future__ import annotations

import dagster as dg

from criptopipe.config import ConfigError
from criptopipe.pipeline import preflight
from criptopipe.storage.slices import Slice, as_date

START_DATE = "2013-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=START_DATE, timezone="UTC")

AnyContext = (
    dg.AssetExecutionContext | dg.AssetCheckExecutionContext | dg.OutputContext | dg.InputContext
)


def window(context: AnyContext) -> Slice:
    """The days of the step's partition (one) or partition range (a single-run backfill).
    A range given backwards (`--partition-range 2024-03-01...2024-01-01`, which Dagster runs as
    an empty window) fails here, without retries, in one line."""
    if isinstance(context, dg.OutputContext | dg.InputContext):
        if not context.has_asset_partitions:
            raise dg.Failure(
                description=f"{context.asset_key.to_user_string()} is daily-partitioned: "
                "materialize it for a partition or a partition range.",
                allow_retries=False,
            )
        _in_order(context.asset_partition_key_range)
        tw = context.asset_partitions_time_window
    elif context.has_partition_key or context.has_partition_key_range:
        _in_order(context.partition_key_range)
        tw = context.partition_time_window
    else:
        raise dg.Failure(
            description="this step is daily-partitioned: run it for a partition or a range.",
            allow_retries=False,
        )
    return Slice(as_date(tw.start), as_date(tw.end))


def _in_order(keys: dg.PartitionKeyRange) -> None:
    try:
        preflight.partition_range(keys.start, keys.end)
    except ConfigError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
