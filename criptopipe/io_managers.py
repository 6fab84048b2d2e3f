"""The Dagster adapter over `criptopipe.storage`: every output goes to MongoDB and PostgreSQL.

An output owns a slice: the time window of the partitions being written (one day, or a range in a
single-run backfill), narrowed to the coins the run fetched when the asset says so. Both stores
replace exactly that slice. MongoDB (the raw archive) is written first, so a typed table is never
ahead of the archive it can be rebuilt from; a failure in either store fails the step, and a
rerun converges both. A write lease on the output's whole slice (`criptopipe.storage.leases`) is
held from before the first MongoDB write until the last PostgreSQL commit, so writers of
overlapping slices take turns, whichever process or Dagster instance they run in.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import dagster as dg
import pandas as pd
from pydantic import Field

from criptopipe.resources import MongoResource, PostgresResource
from criptopipe.storage import leases
from criptopipe.storage.datasets import Dataset, dataset
from criptopipe.storage.errors import StorageError, StorageUnavailableError
from criptopipe.storage.slices import OutOfSliceError, Slice
from criptopipe.transform.batches import SpilledFrames, rows_in

#: `frame.attrs[COINS_ATTR]`: the coins an output covers; absent means the whole days
COINS_ATTR = "criptopipe.coins"


def _window(context: dg.InputContext | dg.OutputContext) -> tuple[date, date]:
    if not context.has_asset_partitions:
        raise dg.Failure(
            description=f"{context.asset_key.to_user_string()} is daily-partitioned: "
            "materialize it for a partition or a partition range."
        )
    window = context.asset_partitions_time_window
    return window.start.date(), window.end.date()


def output_slice(context: dg.OutputContext, frame: pd.DataFrame) -> Slice:
    start, end = _window(context)
    coins = frame.attrs.get(COINS_ATTR)
    return Slice(start, end, frozenset(coins) if coins is not None else None)


def query_for(ds: Dataset, schema: str, slc: Slice) -> str:
    """SQL a reader can paste to see exactly the slice written (identifiers are ours)."""
    where = f"{ds.partition_column} >= '{slc.start}' AND {ds.partition_column} < '{slc.end}'"
    if slc.coins is not None:
        coins = ", ".join(f"'{c}'" for c in sorted(slc.coins))
        where += f" AND {ds.coin_column} IN ({coins})"
    order = ", ".join(ds.key)
    return f"SELECT * FROM {schema}.{ds.name} WHERE {where} ORDER BY {order};"  # noqa: S608


def filter_for(ds: Dataset, slc: Slice) -> dict[str, object]:
    """The MongoDB filter of the slice, in shell syntax terms (ISO dates)."""
    flt: dict[str, object] = {
        ds.partition_column: {
            "$gte": {"$date": slc.start_datetime.isoformat()},
            "$lt": {"$date": slc.end_datetime.isoformat()},
        }
    }
    if slc.coins is not None:
        flt[ds.coin_column] = {"$in": sorted(slc.coins)}
    return flt


@contextmanager
def _failures() -> Iterator[None]:
    """Storage errors as step failures, retried only where a retry can pass."""
    try:
        yield
    except StorageUnavailableError as exc:  # a restart or a blip: a retry may pass
        raise dg.Failure(description=str(exc), allow_retries=True) from exc
    except leases.LeaseTimeoutError as exc:  # the message says whom it waited for
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    except (StorageError, OutOfSliceError) as exc:  # a retry would fail the same way
        raise dg.Failure(
            description=f"{exc} Nothing of this slice was committed to PostgreSQL; "
            "MongoDB holds a mix a rerun converges from.",
            allow_retries=False,
        ) from exc


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Writes each asset's frame to PostgreSQL (typed table) and MongoDB (documents as sent)."""

    postgres: PostgresResource
    mongo: MongoResource
    write_wait_seconds: float = Field(
        default=1800.0,
        description="How long a write waits for another writer of an overlapping slice (same "
        "dataset, overlapping days and coins) to finish before it fails.",
    )

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame | SpilledFrames) -> None:
        try:
            self._write(context, obj)
        finally:
            if isinstance(obj, SpilledFrames):
                obj.cleanup()

    def _write(self, context: dg.OutputContext, obj: pd.DataFrame | SpilledFrames) -> None:
        ds = dataset(context.asset_key.path[-1])
        if isinstance(obj, SpilledFrames):
            start, end = _window(context)
            window = Slice(start, end, frozenset(obj.coins) if obj.coins is not None else None)
        else:
            window = output_slice(context, obj)
        pg, mongo = self.postgres.store(), self.mongo.store()
        started = time.monotonic()
        totals = {"rows": 0, "replaced": 0, "documents": 0, "slices": 0}
        with _failures():
            mongo.ensure_indexes()
            pg.ensure_schema()
            # one lease for the whole output (every batch): taken before the first MongoDB
            # write, released after the last PostgreSQL commit
            lease = leases.acquire(
                pg,
                ds.name,
                window,
                f"run {context.run_id}",
                timeout_s=self.write_wait_seconds,
                progress=context.log.info,
            )

        def write(slc: Slice, rows: pd.DataFrame) -> None:
            if slc.start < window.start or slc.end > window.end:
                raise dg.Failure(f"slice {slc.describe()} lies outside the run's window")
            with _failures():
                # the raw archive first: a typed table is never ahead of what can rebuild it
                lease.check()
                totals["documents"] += mongo.replace_slice(ds, slc, rows).rows_written
                lease.check()
                written = pg.replace_slice(ds, slc, rows)
            totals["rows"] += written.rows_written
            totals["replaced"] += written.rows_deleted
            totals["slices"] += 1

        with lease:
            if isinstance(obj, SpilledFrames):
                for n, (batch, frame) in enumerate(obj.frames(), start=1):
                    for slc in batch.slices:
                        part = frame if len(batch.slices) == 1 else rows_in(ds, frame, slc)
                        write(slc, part)
                    context.log.info(
                        f"batch {n}/{len(obj.batches)}: {batch.rows} {ds.name} rows written "
                        f"({totals['rows']}/{obj.rows})"
                    )
                described = (
                    window.describe()
                    if totals["slices"] <= 1
                    else f"{totals['slices']} slices in {window.describe()}"
                )
            else:
                context.log.info(f"writing {len(obj)} {ds.name} rows for {window.describe()}")
                write(window, obj)
                described = window.describe()
        schema = self.postgres.resolved_schema()
        context.add_output_metadata(
            {
                "rows": dg.MetadataValue.int(totals["rows"]),
                "rows_replaced": dg.MetadataValue.int(totals["replaced"]),
                "documents": dg.MetadataValue.int(totals["documents"]),
                "slice": dg.MetadataValue.text(described),
                "postgres_table": dg.MetadataValue.text(f"{schema}.{ds.name}"),
                "postgres_query": dg.MetadataValue.md(
                    f"```sql\n{query_for(ds, schema, window)}\n```"
                ),
                "mongo_collection": dg.MetadataValue.text(f"{mongo.database_name}.{ds.name}"),
                "mongo_filter": dg.MetadataValue.json(filter_for(ds, window)),
                "write_lease_wait_seconds": dg.MetadataValue.float(round(lease.waited, 3)),
                "write_seconds": dg.MetadataValue.float(round(time.monotonic() - started, 3)),
            }
        )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        upstream = context.upstream_output
        key = upstream.asset_key if upstream is not None else context.asset_key
        ds = dataset(key.path[-1])
        start, end = _window(context)
        return self.postgres.store().read_slice(ds, Slice(start, end))
