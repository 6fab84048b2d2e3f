"""A slice: the part of a dataset one write owns and replaces.

A slice is a window of UTC days (the partitions being written: one, or a range for single-run
backfills), optionally narrowed to a set of coins (so a run for one new coin never touches the
others). Both stores replace exactly the slice they are given and refuse rows outside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone


class OutOfSliceError(ValueError):
    """The rows to write include rows the slice does not own."""


@dataclass(frozen=True)
class Slice:
    start: date  # first day, inclusive
    end: date  # last day, exclusive
    coins: frozenset[str] | None = None  # None: every coin

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"empty slice: start {self.start} must be before end {self.end}")
        if self.coins is not None and not isinstance(self.coins, frozenset):
            object.__setattr__(self, "coins", frozenset(self.coins))

    @classmethod
    def days(cls, first: date, last: date, coins: Iterable[str] | None = None) -> Slice:
        """The slice of the days `first`..`last`, both included."""
        return cls(first, last + timedelta(days=1), frozenset(coins) if coins is not None else None)

    @property
    def start_datetime(self) -> datetime:
        return datetime.combine(self.start, time(), tzinfo=timezone.utc)

    @property
    def end_datetime(self) -> datetime:
        return datetime.combine(self.end, time(), tzinfo=timezone.utc)

    def day_list(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days)]

    def contains(self, day: date, coin: str) -> bool:
        return self.start <= day < self.end and (self.coins is None or coin in self.coins)

    def describe_days(self) -> str:
        last = self.end - timedelta(days=1)
        return str(self.start) if last == self.start else f"{self.start}..{last}"

    def describe(self) -> str:
        days = self.describe_days()
        if self.coins is None:
            return f"{days} (all coins)"
        coins = sorted(self.coins)
        shown = ", ".join(coins[:5]) + (f" and {len(coins) - 5} more" if len(coins) > 5 else "")
        return f"{days} ({shown})"


def check_rows(
    ds_partition: str, ds_coin: str, key: tuple[str, ...], slc: Slice, frame: object
) -> None:
    """Refuse a frame holding rows the slice does not own, naming the first few of them."""
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    if frame.empty:
        return
    days = frame[ds_partition]
    inside = (days >= slc.start) & (days < slc.end)
    if slc.coins is not None:
        inside &= frame[ds_coin].isin(slc.coins)
    if bool(inside.all()):
        return
    outside = frame.loc[~inside, list(key)]
    sample = [tuple(str(v) for v in row) for row in outside.head(5).itertuples(index=False)]
    raise OutOfSliceError(
        f"{len(outside)} row(s) lie outside the slice being written, {slc.describe()}; e.g. "
        f"{sample}. A write replaces exactly its slice: widen the slice (partition range, coins) "
        "or drop those rows."
    )
