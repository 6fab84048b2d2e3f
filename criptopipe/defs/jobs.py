"""Jobs: the partitioned job the daily schedule runs."""

from __future__ import annotations

import dagster as dg

from criptopipe.defs.assets import coincap_assets
from criptopipe.defs.assets.coincap import asset_history
from criptopipe.defs.partitions import daily_partitions

daily_job = dg.define_asset_job(
    name="daily_job",
    selection=dg.AssetSelection.assets(*coincap_assets),
    partitions_def=daily_partitions,
    description="All three CoinCap assets for one UTC day (the schedule's job).",
)

history_job = dg.define_asset_job(
    name="asset_history_job",
    selection=dg.AssetSelection.assets(asset_history),
    partitions_def=daily_partitions,
    description="asset_history alone: partition ranges run as one run (new-coin backfills).",
)

jobs = [daily_job, history_job]
