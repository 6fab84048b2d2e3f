"""The one daily partitions definition every asset shares.

Partition D is the UTC day D. Dagster's daily partitions end at the last *complete* day, so the
newest partition is always yesterday (UTC). The start covers CoinCap's history (bitcoin's daily
series begins in 2013).
"""

from __future__ import annotations

import dagster as dg

START_DATE = "2013-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=START_DATE, timezone="UTC")
