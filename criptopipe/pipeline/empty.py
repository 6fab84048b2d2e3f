"""An empty answer never erases stored history.

A write replaces its slice, so a valid but empty answer for a coin (CoinCap has answered `[]`
for some coins' history) would delete that coin's stored rows. Such a coin is left out of the
write's slice when either store holds rows for it there (its rows stay as they are) and is
reported; a coin with no data where nothing is stored either (a window before its listing) stays
in: there is nothing to erase. No Dagster here: the assets call `EmptyAnswers.narrow` before
they keep each batch and report `warning()` and `metadata()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from criptopipe.storage.mongo import MongoStore
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import Slice
from criptopipe.storage.tables import Table


@dataclass(frozen=True)
class KeptSlices:
    """What a write may replace once empty answers are accounted for."""

    #: the slices to replace: each narrowed to leave out the coins held back in it
    slices: list[Slice]
    #: coin -> stored rows left untouched because CoinCap answered nothing where they lie
    held: dict[str, int]
    #: coins CoinCap answered nothing for in some slice (held back or not)
    empty: list[str]


def hold_back_empty(
    slices: Sequence[Slice],
    fetched: Iterable[tuple[str, date]],
    stored: Iterable[tuple[str, date]],
) -> KeptSlices:
    """Leave out of each slice the coins CoinCap answered nothing for where the stores hold rows.

    A write replaces its slice, so an empty but valid answer would otherwise erase a coin's
    stored history. `fetched` holds the (coin, day) of every row about to be written, `stored`
    the (coin, day) of every stored row (one entry per row; only the coins that came back empty
    need to be listed). A coin with no data where nothing is stored either (a window before its
    listing) stays in its slice: there is nothing to erase, and the write records that the
    window was fetched. Slices left with no coin are dropped."""
    got: dict[str, set[date]] = {}
    for coin, day in fetched:
        got.setdefault(coin, set()).add(day)
    held_days: dict[str, list[date]] = {}
    for coin, day in stored:
        held_days.setdefault(coin, []).append(day)
    kept: list[Slice] = []
    held: dict[str, int] = {}
    empty: list[str] = []
    for slc in slices:
        if slc.coins is None:
            raise ValueError(f"slice {slc.describe()} must name its coins to hold any back")
        out = []
        for coin in sorted(slc.coins):
            if any(slc.start <= d < slc.end for d in got.get(coin, ())):
                continue
            empty.append(coin)
            rows = sum(1 for d in held_days.get(coin, ()) if slc.start <= d < slc.end)
            if rows:
                out.append(coin)
                held[coin] = held.get(coin, 0) + rows
        left = slc.coins - frozenset(out)
        if left:
            kept.append(Slice(slc.start, slc.end, left))
    return KeptSlices(kept, held, list(dict.fromkeys(empty)))


class EmptyAnswers:
    """Coins the source answered nothing for, across a run's slices, and the stored rows kept.

    Either store counts as holding rows: after a crash between the two writes MongoDB may hold a
    slice PostgreSQL lacks, and the archive is the one copy that cannot be fetched again for
    snapshots."""

    def __init__(
        self, table: Table, pg: PostgresStore, mongo: MongoStore, source: str = "CoinCap"
    ) -> None:
        self.table, self.pg, self.mongo, self.source = table, pg, mongo, source
        self.empty: list[str] = []
        self.held: dict[str, int] = {}

    def narrow(self, slices: Sequence[Slice], frame: pd.DataFrame) -> list[Slice]:
        """`slices` without the coins held back (slices left with no coin are dropped)."""
        fetched = _pairs(frame, self.table)
        empty = hold_back_empty(slices, fetched, []).empty
        if not empty:  # every coin answered: nothing to look up
            return list(slices)
        start = min(s.start for s in slices)
        end = max(s.end for s in slices)
        stored = self._stored(Slice(start, end, frozenset(empty)))
        kept = hold_back_empty(slices, fetched, stored)
        self.empty.extend(c for c in kept.empty if c not in self.empty)
        for coin, rows in kept.held.items():
            self.held[coin] = self.held.get(coin, 0) + rows
        return kept.slices

    def _stored(self, slc: Slice) -> list[tuple[str, date]]:
        t = self.table
        keys = self.pg.keys(t, slc) | self.mongo.keys(t, slc)
        coin, day = t.key.index(t.coin_column), t.key.index(t.partition_column)
        return [(str(k[coin]), k[day]) for k in keys]

    def warning(self, window: str) -> str | None:
        if not self.held:
            return None
        kept = ", ".join(f"{c} ({n} rows)" for c, n in list(self.held.items())[:20])
        return (
            f"{self.source} answered no {self.table.name} data in {window} for {kept}, whose rows "
            "the stores hold: left out of the write, their stored rows are kept"
        )

    def metadata(self) -> dict[str, Any]:
        return {
            "empty_answers": self.empty[:200],
            "held_back": dict(list(self.held.items())[:200]),
        }


def _pairs(frame: pd.DataFrame, table: Table) -> list[tuple[str, date]]:
    if frame.empty:
        return []
    return list(zip(frame[table.coin_column], frame[table.partition_column], strict=True))
