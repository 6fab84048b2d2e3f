"""The daily schedules: the history, the snapshots and the exchanges for the UTC day that just
closed.

One schedule per job (`defs/jobs.py`: a job holds assets of one partitions definition). The
CoinCap two tick at 00:30 UTC, so CoinCap has finalised the previous day's d1 point and the
snapshots are taken within their grace period; the exchanges' one at 01:00 UTC, after them
(candles map coins by the newest snapshot's symbols, daily prices read the history). They ship
STOPPED: each spends CoinCap credits or exchange requests every day, so turning them on is a
deliberate act (the Dagster UI's Automation page, or
`dagster schedule start daily_history_schedule -w workspace.yaml` and the same for
`daily_snapshots_schedule` and `daily_exchanges_schedule`).
"""

import dagster as dg

from criptopipe.defs.jobs import exchanges_job, history_job, snapshots_job

SCHEDULE_HOUR_UTC = 0
SCHEDULE_MINUTE = 30

daily_history_schedule = dg.build_schedule_from_partitioned_job(
    history_job,
    name="daily_history_schedule",
    hour_of_day=SCHEDULE_HOUR_UTC,
    minute_of_hour=SCHEDULE_MINUTE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="asset_history for the day that just closed, at 00:30 UTC.",
)

daily_snapshots_schedule = dg.build_schedule_from_partitioned_job(
    snapshots_job,
    name="daily_snapshots_schedule",
    hour_of_day=SCHEDULE_HOUR_UTC,
    minute_of_hour=SCHEDULE_MINUTE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="raw_assets and market_snapshots for the day that just closed, at 00:30 UTC.",
)

daily_exchanges_schedule = dg.build_schedule_from_partitioned_job(
    exchanges_job,
    name="daily_exchanges_schedule",
    hour_of_day=SCHEDULE_HOUR_UTC + 1,
    minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="exchange_candles and daily_prices for the day that just closed, at 01:00 UTC.",
)

schedules = [daily_history_schedule, daily_snapshots_schedule, daily_exchanges_schedule]
