"""Frames as the stores receive them: a dataset's columns plus the raw-archive columns.

A frame carries the table's PostgreSQL columns plus `record` (the source's record exactly as
sent) and `request_path` (no key). Both stores are written from the same frame, so PostgreSQL
and MongoDB can never disagree on keys. Every column is `object` dtype: Decimals, dates and raw
dicts must reach the stores untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any

import pandas as pd

from criptopipe.storage.tables import Table

ARCHIVE_COLUMNS = ("record", "request_path")


def frame_columns(table: Table) -> list[str]:
    return [*table.column_names, *ARCHIVE_COLUMNS]


def empty_frame(table: Table) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in frame_columns(table)})


def to_frame(table: Table, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    if not rows:
        return empty_frame(table)
    return pd.DataFrame.from_records(rows, columns=frame_columns(table)).astype(object)


def fetch_time() -> datetime:
    """Now, in UTC, to the millisecond: the precision BSON keeps, so a table rebuilt from the
    MongoDB archive carries exactly the `fetched_at` of the original load."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def utc_day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).date()


def as_utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
    return datetime.fromisoformat(str(value))
