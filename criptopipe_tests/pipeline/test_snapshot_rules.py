"""When a snapshot partition may be fetched live: only the latest closed day, within grace."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from criptopipe.pipeline.snapshots import SnapshotSource, snapshot_source

DAY = date(2026, 11, 22)
CLOSE = datetime(2026, 11, 23, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("now", "grace_h", "expected"),
    [
        (CLOSE - timedelta(seconds=1), 24, SnapshotSource.OPEN),
        (CLOSE, 24, SnapshotSource.LIVE),
        (CLOSE + timedelta(hours=23, minutes=59), 24, SnapshotSource.LIVE),
        (CLOSE + timedelta(hours=24), 24, SnapshotSource.ARCHIVE),
        (CLOSE + timedelta(hours=7), 6, SnapshotSource.ARCHIVE),
        (CLOSE + timedelta(hours=5), 6, SnapshotSource.LIVE),
        # a grace longer than a day never makes the day before yesterday live
        (CLOSE + timedelta(hours=30), 48, SnapshotSource.ARCHIVE),
    ],
)
def test_snapshot_source(now: datetime, grace_h: float, expected: SnapshotSource) -> None:
    assert snapshot_source(DAY, now, timedelta(hours=grace_h)) is expected
