"""Spilled batches: a large output as a sequence of frames on disk, written slice by slice.

A single-run backfill of a year for hundreds of coins is millions of rows; holding them (with
CoinCap's raw records for the archive) in one DataFrame would need gigabytes. The history asset
instead fetches a batch of coins at a time, checks the batch's frame, pickles it to a temporary
folder (pickle keeps Decimals, dates and raw dicts exactly) and lets it go; the IO manager then
writes the batches one by one, each replacing its own slice (the window narrowed to the batch's
coins). Peak memory is one batch, whatever the size of the backfill.
"""

from __future__ import annotations

import contextlib
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from criptopipe import owners
from criptopipe.storage.datasets import Dataset
from criptopipe.storage.slices import Slice

#: rows per batch: ~50k history rows with their raw records is ~100 MB in memory
DEFAULT_BATCH_ROWS = 50_000
SPILL_PREFIX = "criptopipe-spill-"
OWNER_FILE = "owner.json"


def sweep_orphans(parent: Path | None = None) -> list[Path]:
    """Remove the spill folders under `parent` (default: the temp dir) whose owner is dead."""
    removed = []
    for folder in Path(parent or tempfile.gettempdir()).glob(f"{SPILL_PREFIX}*"):
        with contextlib.suppress(OSError):  # another user's folder, or gone meanwhile
            owner = owners.Owner.decode((folder / OWNER_FILE).read_text())
            if owner is not None and owners.liveness(owner) is owners.Liveness.DEAD:
                shutil.rmtree(folder)
                removed.append(folder)
    return removed


def _new_folder() -> Path:
    """A fresh spill folder marked with its owner, after sweeping dead owners' folders."""
    sweep_orphans()
    folder = Path(tempfile.mkdtemp(prefix=SPILL_PREFIX))
    marker = folder / f".{OWNER_FILE}.tmp"
    marker.write_text(owners.current().encode())
    marker.replace(folder / OWNER_FILE)  # a sweeper never reads a half-written marker
    return folder


@dataclass(frozen=True)
class Batch:
    path: Path
    slices: tuple[Slice, ...]  # what this batch replaces; its rows all lie inside them
    rows: int


@dataclass
class SpilledFrames:
    dataset: Dataset
    folder: Path = field(default_factory=_new_folder)
    batches: list[Batch] = field(default_factory=list)
    #: the coins the output covers (the run's), for metadata and the window's description
    coins: list[str] | None = None
    #: set by whoever validated every batch before spilling it (the asset's output type checks it)
    validated: bool = False

    @property
    def rows(self) -> int:
        return sum(b.rows for b in self.batches)

    def add(self, frame: pd.DataFrame, slices: list[Slice]) -> Batch:
        path = self.folder / f"batch-{len(self.batches):05d}.pickle"
        with path.open("wb") as out:
            pickle.dump(frame, out, protocol=pickle.HIGHEST_PROTOCOL)
        batch = Batch(path, tuple(slices), len(frame))
        self.batches.append(batch)
        return batch

    def frames(self) -> Iterator[tuple[Batch, pd.DataFrame]]:
        for batch in self.batches:
            with batch.path.open("rb") as src:
                frame: pd.DataFrame = pickle.load(src)
            yield batch, frame

    def cleanup(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def rows_in(ds: Dataset, frame: pd.DataFrame, slc: Slice) -> pd.DataFrame:
    """The rows of `frame` that `slc` owns."""
    if frame.empty:
        return frame
    days = frame[ds.partition_column]
    mask = (days >= slc.start) & (days < slc.end)
    if slc.coins is not None:
        mask &= frame[ds.coin_column].isin(slc.coins)
    return frame[mask]


def batch_size(days: int, batch_rows: int = DEFAULT_BATCH_ROWS) -> int:
    """Coins per batch so that a batch holds about `batch_rows` rows."""
    return max(1, batch_rows // max(days, 1))
