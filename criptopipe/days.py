"""The partition calendar every dataset shares, without Dagster: UTC days from START to the latest
closed day (yesterday). `defs/partitions.py` builds Dagster's partitions from START; the CLI
checks the days people type against the same bounds before anything runs."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

#: the first partition: CoinCap's daily history begins in 2013 (bitcoin)
START = date(2013, 1, 1)
START_DATE = START.isoformat()


def latest_closed(now: datetime | None = None) -> date:
    """The newest partition: the last complete UTC day (today's has not closed)."""
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc).date() - timedelta(days=1)


def outside(day: date, now: datetime | None = None) -> str | None:
    """Why `day` is not a partition, in words, or None when it is one."""
    last = latest_closed(now)
    if START <= day <= last:
        return None
    why = "has not closed yet" if day > last else "is before the first partition"
    return f"{day} {why}: partitions run from {START} to {last} (the latest closed UTC day)"
