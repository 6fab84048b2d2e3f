"""What an asset hands the IO manager: the slice an output owns, and its rows part by part.

`SliceOutput.window` is everything the output owns (the run's days, narrowed to the coins it
fetched); each `Part` is a slice inside it with the rows that replace it. A small output keeps its
parts in memory. A single-run backfill of a year for hundreds of coins is millions of rows, so a
large one spills each batch of coins to a temporary folder as it is fetched (pickle keeps
Decimals, dates and raw dicts exactly) and the IO manager loads the parts back one at a time:
peak memory is one batch, whatever the size of the backfill. Every frame is checked (the
caller's `check`, the dataset's output type) before it is kept, so nothing unchecked is written.
"""

from __future__ import annotations

import contextlib
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from criptopipe.pipeline import owners
from criptopipe.storage.slices import Slice
from criptopipe.storage.tables import Table

#: rows per batch: ~50k history rows with their raw records is ~100 MB in memory
DEFAULT_BATCH_ROWS = 50_000
SPILL_PREFIX = "criptopipe-spill-"
OWNER_FILE = "owner.json"


def sweep_orphans(parent: Path | None = None) -> list[Path]:
    """Remove the spill folders under `parent` (default: the temp dir) whose owner is dead: a
    killed run cannot clean up after itself, so the next one that spills does."""
    removed = []
    for folder in Path(parent or tempfile.gettempdir()).glob(f"{SPILL_PREFIX}*"):
        with contextlib.suppress(OSError):  # another user's folder, or gone meanwhile
            owner = owners.Owner.decode((folder / OWNER_FILE).read_text())
            if owner is not None and owners.liveness(owner) is owners.Liveness.DEAD:
                shutil.rmtree(folder)
                removed.append(folder)
    return removed


def new_spill_folder() -> Path:
    """A fresh spill folder marked with its owner, after sweeping dead owners' folders."""
    sweep_orphans()
    folder = Path(tempfile.mkdtemp(prefix=SPILL_PREFIX))
    marker = folder / f".{OWNER_FILE}.tmp"
    marker.write_text(owners.current().encode())
    marker.replace(folder / OWNER_FILE)  # a sweeper never reads a half-written marker
    return folder


def batch_size(days: int, batch_rows: int = DEFAULT_BATCH_ROWS) -> int:
    """Coins per batch so that a batch holds about `batch_rows` rows."""
    return max(1, batch_rows // max(days, 1))


@dataclass(frozen=True)
class Part:
    """One slice and the rows that replace it."""

    slice: Slice
    rows: int
    load: Callable[[], pd.DataFrame] = field(repr=False)


class SliceOutput:
    """The output of one asset step: a window and the parts that fill it."""

    def __init__(
        self,
        table: Table,
        window: Slice,
        *,
        check: Callable[[pd.DataFrame], None] | None = None,
        spill: bool = False,
    ) -> None:
        self.table, self.window = table, window
        self.parts: list[Part] = []
        self.rows_per_day: dict[date, int] = {}
        self.checked = check is not None
        self._check = check
        self._spill = spill
        # made at once, not on the first batch: the sweep of dead owners' folders runs when a
        # run starts, and the folder marks a run that is fetching (tests watch for it)
        self._folder: Path | None = new_spill_folder() if spill else None
        self._cached: tuple[Path, pd.DataFrame] | None = None
        self._batches = 0

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.parts)

    @property
    def spill_folder(self) -> Path | None:
        """Where spilled batches live until `cleanup` (None: nothing spilled)."""
        return self._folder

    @property
    def batches(self) -> int:
        return self._batches

    def add(self, frame: pd.DataFrame, slices: Sequence[Slice] | None = None) -> None:
        """Keep `frame` as the rows of `slices` (default: the whole window). Each slice must lie
        inside the window, and every row inside one of the slices."""
        slices = list(slices) if slices is not None else [self.window]
        for slc in slices:
            if not slc.within(self.window):
                raise ValueError(
                    f"slice {slc.describe()} lies outside the output's window "
                    f"{self.window.describe()}"
                )
        if self._check is not None:
            self._check(frame)
        self._batches += 1
        if not frame.empty:
            counts = frame.groupby(self.table.partition_column).size()
            for day, n in zip(counts.index, counts.tolist(), strict=True):
                self.rows_per_day[day] = self.rows_per_day.get(day, 0) + int(n)
        load = self._keep(frame)
        for slc in slices:
            if len(slices) == 1:
                self.parts.append(Part(slc, len(frame), load))
            else:
                n = int(slc.mask(self.table, frame).sum()) if not frame.empty else 0
                self.parts.append(Part(slc, n, _narrowed(load, self.table, slc)))

    def _keep(self, frame: pd.DataFrame) -> Callable[[], pd.DataFrame]:
        if not self._spill:
            return lambda: frame
        if self._folder is None:  # cleaned up already: a new folder for a late batch
            self._folder = new_spill_folder()
        path = self._folder / f"batch-{self._batches:05d}.pickle"
        with path.open("wb") as out:
            pickle.dump(frame, out, protocol=pickle.HIGHEST_PROTOCOL)

        def load() -> pd.DataFrame:
            # consecutive parts of one batch (fill-gaps: a slice per gap) share one read
            if self._cached is None or self._cached[0] != path:
                with path.open("rb") as src:
                    self._cached = (path, pickle.load(src))
            return self._cached[1]

        return load

    def frames(self) -> Iterator[tuple[Slice, pd.DataFrame]]:
        """Each part's slice and rows, loaded one batch at a time."""
        for part in self.parts:
            yield part.slice, part.load()

    def cleanup(self) -> None:
        """Remove what was spilled (the IO manager calls it once the output is written)."""
        self._cached = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


def _narrowed(
    load: Callable[[], pd.DataFrame], table: Table, slc: Slice
) -> Callable[[], pd.DataFrame]:
    return lambda: slc.rows_of(table, load())
