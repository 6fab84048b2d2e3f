"""The daily partitions, and the one place a run's window is read from Dagster.

Partition D is the UTC day D. Dagster's daily partitions end at the last *complete* day, so the
newest partition is always yesterday (UTC). Where they start is what can exist:

- `asset_history` (`daily_partitions`): CoinCap's daily series, back to bitcoin's 2013.
- `raw_assets`, `market_snapshots` (`snapshot_partitions`): CoinCap serves these live only, so a
  day exists only from the first one the raw archive holds: `CRIPTOPIPE_SNAPSHOT_START`, read
  when the definitions load (`criptopipe/definitions.py`). The assets are declared with the
  default start and re-bound to the configured one there (`with_partitions`).

`window(context)` turns whatever context a step has (asset, check, IO manager output or input)
into the `Slice` of its partition or partition range.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import dagster as dg

from criptopipe.config import ConfigError
from criptopipe.config_messages import DEFAULT_SNAPSHOT_START
from criptopipe.days import START_DATE
from criptopipe.pipeline import preflight
from criptopipe.storage.slices import Slice, as_date

__all__ = ["START_DATE", "daily_partitions", "window"]

daily_partitions = dg.DailyPartitionsDefinition(start_date=START_DATE, timezone="UTC")

AnyContext = (
    dg.AssetExecutionContext | dg.AssetCheckExecutionContext | dg.OutputContext | dg.InputContext
)


def snapshot_partitions(start: date = DEFAULT_SNAPSHOT_START) -> dg.DailyPartitionsDefinition:
    """Daily partitions of a live-only snapshot dataset, from the first day that can exist."""
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC")


def with_partitions(
    assets: Sequence[dg.AssetsDefinition], partitions_def: dg.PartitionsDefinition
) -> list[dg.AssetsDefinition]:
    """The same assets over other partitions (the configured snapshot start)."""
    return [
        a.map_asset_specs(lambda spec: spec.replace_attributes(partitions_def=partitions_def))
        for a in assets
    ]


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
