"""A slice: the part of a dataset one write owns and replaces, and the one place it is rendered.

A slice is a window of UTC days (the partitions being written: one, or a range for single-run
backfills), optionally narrowed to a set of coins (so a run for one new coin never touches the
others). Both stores replace exactly the slice they are given and refuse rows outside it. The
SQL `WHERE` (parameterised, to execute; with literals, to show in metadata) and the MongoDB
filter of a slice are built here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from psycopg import sql

    from criptopipe.storage.tables import Table


class OutOfSliceError(ValueError):
    """The rows to write include rows the slice does not own."""

    retryable = False


def midnight(day: date) -> datetime:
    """00:00 UTC of `day`: how a day is stored in MongoDB and compared with timestamps."""
    return datetime.combine(day, time(), tzinfo=timezone.utc)


def as_date(value: Any) -> date:
    """A day from a `date`, an aware or naive (UTC) datetime, or an ISO string."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


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

    def narrow(self, coins: Iterable[str] | None) -> Slice:
        """The same days, for `coins` only (None keeps this slice's coins)."""
        return self if coins is None else Slice(self.start, self.end, frozenset(coins))

    @property
    def last(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def day_count(self) -> int:
        return (self.end - self.start).days

    def day_list(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.day_count)]

    def within(self, other: Slice) -> bool:
        """Every (day, coin) of this slice belongs to `other`."""
        days = other.start <= self.start and self.end <= other.end
        if other.coins is None:
            return days
        return days and self.coins is not None and self.coins <= other.coins

    def describe_days(self) -> str:
        return str(self.start) if self.last == self.start else f"{self.start}..{self.last}"

    def describe(self) -> str:
        days = self.describe_days()
        if self.coins is None:
            return f"{days} (all coins)"
        coins = sorted(self.coins)
        shown = ", ".join(coins[:5]) + (f" and {len(coins) - 5} more" if len(coins) > 5 else "")
        return f"{days} ({shown})"

    # ------------------------------------------------------------------ rendering

    def where(self, table: Table) -> tuple[sql.Composed, list[Any]]:
        """The parameterised SQL predicate of this slice over `table`, and its parameters."""
        from psycopg import sql

        return self._where(table, lambda _: sql.Placeholder()), self._params()

    def where_text(self, table: Table) -> str:
        """The same predicate with the values inlined (properly quoted), for a reader to paste."""
        from psycopg import sql

        return self._where(table, sql.Literal).as_string()

    def select_text(self, table: Table, schema: str) -> str:
        """`SELECT * FROM schema.table WHERE <slice> ORDER BY <key>;` to show in metadata."""
        from psycopg import sql

        query = sql.SQL("SELECT * FROM {}.{} WHERE {} ORDER BY {};").format(
            sql.Identifier(schema),
            sql.Identifier(table.name),
            self._where(table, sql.Literal),
            sql.SQL(", ").join(sql.Identifier(k) for k in table.key),
        )
        return query.as_string()

    def _params(self) -> list[Any]:
        params: list[Any] = [self.start, self.end]
        if self.coins is not None:
            params.append(sorted(self.coins))
        return params

    def _where(self, table: Table, value: Any) -> sql.Composed:
        from psycopg import sql

        day = sql.Identifier(table.partition_column)
        values = [value(v) for v in self._params()]
        where = sql.SQL("{} >= {} AND {} < {}").format(day, values[0], day, values[1])
        if self.coins is not None:
            where = sql.SQL("{} AND {} = ANY({})").format(
                where, sql.Identifier(table.coin_column), values[2]
            )
        return where

    def mongo_filter(self, table: Table) -> dict[str, Any]:
        """The MongoDB filter of this slice (days are stored as UTC midnights)."""
        flt: dict[str, Any] = {
            table.partition_column: {"$gte": midnight(self.start), "$lt": midnight(self.end)}
        }
        if self.coins is not None:
            flt[table.coin_column] = {"$in": sorted(self.coins)}
        return flt

    def mongo_filter_text(self, table: Table) -> dict[str, Any]:
        """The same filter in MongoDB Extended JSON, to paste in a shell."""
        flt: dict[str, Any] = {
            table.partition_column: {
                "$gte": {"$date": midnight(self.start).isoformat()},
                "$lt": {"$date": midnight(self.end).isoformat()},
            }
        }
        if self.coins is not None:
            flt[table.coin_column] = {"$in": sorted(self.coins)}
        return flt

    # ------------------------------------------------------------------ frames

    def mask(self, table: Table, frame: pd.DataFrame) -> pd.Series:
        """Which rows of `frame` this slice owns."""
        days = frame[table.partition_column]
        inside = (days >= self.start) & (days < self.end)
        if self.coins is not None:
            inside &= frame[table.coin_column].isin(self.coins)
        return inside

    def rows_of(self, table: Table, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of `frame` this slice owns."""
        return frame if frame.empty else frame[self.mask(table, frame)]

    def check_rows(self, table: Table, frame: pd.DataFrame) -> None:
        """Refuse a frame holding rows this slice does not own, naming the first few."""
        if frame.empty:
            return
        inside = self.mask(table, frame)
        if bool(inside.all()):
            return
        outside = frame.loc[~inside, list(table.key)]
        sample = [tuple(str(v) for v in row) for row in outside.head(5).itertuples(index=False)]
        raise OutOfSliceError(
            f"{len(outside)} row(s) lie outside the slice being written, {self.describe()}; "
            f"e.g. {sample}. A write replaces exactly its slice: widen the slice (partition "
            "range, coins) or drop those rows."
        )
