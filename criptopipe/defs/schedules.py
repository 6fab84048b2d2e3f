"""The daily schedule: every asset for the UTC day that just closed.

Ships STOPPED: a schedule spends CoinCap credits every day, so turning it on is a deliberate act
(the Dagster UI's Automation page, or `dagster schedule start daily_schedule -w workspace.yaml`).
It runs at 00:30 UTC so CoinCap has finalised the previous day's d1 point.
"""

import dagster as dg

from criptopipe.defs.jobs import daily_job

SCHEDULE_HOUR_UTC = 0
SCHEDULE_MINUTE = 30

daily_schedule = dg.build_schedule_from_partitioned_job(
    daily_job,
    name="daily_schedule",
    hour_of_day=SCHEDULE_HOUR_UTC,
    minute_of_hour=SCHEDULE_MINUTE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every asset (CoinCap, exchange candles, daily prices) for the day that just "
    "closed, at 00:30 UTC.",
)

schedules = [daily_schedule]
