"""Which snapshot days may be fetched live and which must come from the raw archive.

CoinCap serves only the present state of assets and markets, so partition D of a snapshot
dataset is "the state at the close of UTC day D": live data may be stamped D only while the
present is still the close of D (from D's end until the grace period after it). Older days exist
only where the archive kept them when they were live; a day that has not closed has no snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import Enum

from criptopipe.storage.slices import midnight


class SnapshotSource(Enum):
    LIVE = "live"  # the latest closed day, within the grace period: fetch from CoinCap
    ARCHIVE = "archive"  # older: only the raw documents archived when it was live can rebuild it
    OPEN = "open"  # the day has not closed yet


def snapshot_source(day: date, now: datetime, grace: timedelta) -> SnapshotSource:
    """Never stamp live data with an older date, however long the grace period."""
    closes = midnight(day + timedelta(days=1))
    if now < closes:
        return SnapshotSource.OPEN
    if now < closes + min(grace, timedelta(days=1)):
        return SnapshotSource.LIVE
    return SnapshotSource.ARCHIVE


@dataclass(frozen=True)
class SnapshotPlan:
    live: list[date] = field(default_factory=list)
    archive: list[date] = field(default_factory=list)
    open: list[date] = field(default_factory=list)


def plan_days(days: Sequence[date], now: datetime, grace: timedelta) -> SnapshotPlan:
    plan = SnapshotPlan()
    for day in days:
        {
            SnapshotSource.LIVE: plan.live,
            SnapshotSource.ARCHIVE: plan.archive,
            SnapshotSource.OPEN: plan.open,
        }[snapshot_source(day, now, grace)].append(day)
    return plan
