"""Jobs: what the daily schedules and the new-coin sensor run.

The snapshot datasets' partitions start later than `asset_history`'s (CoinCap keeps no history
of them), and a Dagster job can only hold assets of one partitions definition, so the day's
work is three jobs: the history, the snapshots, and the exchanges' candles with the daily prices
derived from them and the history. Partitions come from the selected assets.
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

exchanges_job = dg.define_asset_job(
    name="exchanges_job",
    selection=dg.AssetSelection.assets("exchange_candles", "daily_prices"),
    description="exchange_candles and daily_prices (CoinCap's d1 against the exchanges' closes) "
    "for a UTC day or range: after the history and the snapshots (candles map coins by the "
    "newest snapshot's symbols).",
)

jobs = [history_job, snapshots_job, exchanges_job]
