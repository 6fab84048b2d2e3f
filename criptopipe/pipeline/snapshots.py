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


def day_ranges(days: Sequence[date]) -> str:
    """`2024-01-15, 2024-01-17..2024-01-20`: sorted days, consecutive ones as ranges."""
    spans: list[list[date]] = []
    for day in sorted(set(days)):
        if spans and day - spans[-1][1] == timedelta(days=1):
            spans[-1][1] = day
        else:
            spans.append([day, day])
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in spans)


def refusal(name: str, missing: Sequence[date], held: Sequence[date], grace_hours: float) -> str:
    """Why a snapshot run over days the archive does not hold is refused, and what can run."""
    fillable = f"the days the archive holds ({day_ranges(held)}) or " if held else ""
    return (
        f"CoinCap keeps no history for {name}: {len(missing)} partition(s) of this run "
        f"({day_ranges(missing)}) are past the {grace_hours:g}h in which a day's snapshot can be "
        f"fetched live, and the MongoDB raw archive holds no {name} documents for them, so "
        "they can never be built. Nothing was fetched or written. Run "
        f"{fillable}the latest closed day instead; older snapshot partitions exist only where "
        "they were archived when live."
    )
