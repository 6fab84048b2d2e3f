"""Jobs: the partitioned job the daily schedule runs."""

from __future__ import annotations

import dagster as dg

from criptopipe.defs.assets import all_assets
from criptopipe.defs.assets.coincap import asset_history
from criptopipe.defs.partitions import daily_partitions

daily_job = dg.define_asset_job(
    name="daily_job",
    selection=dg.AssetSelection.assets(*all_assets),
    partitions_def=daily_partitions,
    description="Every asset for one UTC day (the schedule's job): the three CoinCap assets, "
    "the exchanges' candles and the daily prices derived from both.",
)

history_job = dg.define_asset_job(
    name="asset_history_job",
    selection=dg.AssetSelection.assets(asset_history),
    partitions_def=daily_partitions,
    description="asset_history alone: partition ranges run as one run (new-coin backfills).",
)

jobs = [daily_job, history_job]
