"""Jobs: what the daily schedules and the new-coin sensor run.

The snapshot datasets' partitions start later than `asset_history`'s (CoinCap keeps no history
of them), and a Dagster job can only hold assets of one partitions definition, so the day's
work is two jobs: the history and the snapshots. Partitions come from the selected assets.
"""

from __future__ import annotations

import dagster as dg

history_job = dg.define_asset_job(
    name="asset_history_job",
    selection=dg.AssetSelection.assets("asset_history"),
    description="asset_history alone: partition ranges run as one run (the daily schedule, "
    "new-coin backfills).",
)

snapshots_job = dg.define_asset_job(
    name="snapshots_job",
    selection=dg.AssetSelection.assets("raw_assets", "market_snapshots"),
    description="raw_assets and market_snapshots for one UTC day (the state at its close).",
)

jobs = [history_job, snapshots_job]
