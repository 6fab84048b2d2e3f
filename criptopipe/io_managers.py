"""The Dagster adapter over `criptopipe.storage`: every output goes to MongoDB and PostgreSQL.

An output owns a slice: the time window of the partitions being written (one day, or a range in a
single-run backfill), narrowed to the coins the run fetched when the asset says so. Both stores
replace exactly that slice. MongoDB (the raw archive) is written first, so a typed table is never
ahead of the archive it can be rebuilt from; a failure in either store fails the step, and a
rerun converges both.
"""

from __future__ import annotations

import time
from datetime import date

import dagster as dg
import pandas as pd

from criptopipe.resources import MongoResource, PostgresResource
from criptopipe.storage.datasets import Dataset, dataset
from criptopipe.storage.slices import Slice

#: `frame.attrs[COINS_ATTR]`: the coins an output covers; absent means the whole days
COINS_ATTR = "criptopipe.coins"
#: `frame.attrs[SLICES_ATTR]`: several disjoint slices inside the window (fill-gaps runs write
#: only the (coin, day range) holes they fetched, never the days around them)
SLICES_ATTR = "criptopipe.slices"


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


def output_slices(context: dg.OutputContext, frame: pd.DataFrame) -> list[Slice]:
    """The slices an output replaces: the partition window (narrowed to the run's coins), or the
    explicit sub-slices a fill-gaps run names, each of which must lie inside the window."""
    whole = output_slice(context, frame)
    parts: list[Slice] | None = frame.attrs.get(SLICES_ATTR)
    if parts is None:
        return [whole]
    for part in parts:
        if part.start < whole.start or part.end > whole.end:
            raise dg.Failure(f"slice {part.describe()} lies outside the run's window")
    return list(parts)


def _rows_of(ds: Dataset, frame: pd.DataFrame, slc: Slice) -> pd.DataFrame:
    if frame.empty:
        return frame
    days = frame[ds.partition_column]
    mask = (days >= slc.start) & (days < slc.end)
    if slc.coins is not None:
        mask &= frame[ds.coin_column].isin(slc.coins)
    part = frame[mask]
    part.attrs = {}
    return part


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


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Writes each asset's frame to PostgreSQL (typed table) and MongoDB (documents as sent)."""

    postgres: dg.ResourceDependency[PostgresResource]
    mongo: dg.ResourceDependency[MongoResource]

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        ds = dataset(context.asset_key.path[-1])
        slices = output_slices(context, obj)
        pg, mongo = self.postgres.store(), self.mongo.store()
        started = time.monotonic()
        mongo.ensure_indexes()
        pg.ensure_schema()
        rows_written = rows_deleted = documents = 0
        for slc in slices:
            part = obj if len(slices) == 1 else _rows_of(ds, obj, slc)
            context.log.info(f"writing {len(part)} {ds.name} rows for {slc.describe()}")
            # the raw archive first: a typed table is never ahead of what can rebuild it
            documents += mongo.replace_slice(ds, slc, part).rows_written
            written = pg.replace_slice(ds, slc, part)
            rows_written += written.rows_written
            rows_deleted += written.rows_deleted
        slc = slices[0] if len(slices) == 1 else output_slice(context, obj)
        schema = self.postgres.resolved_schema()
        rows_per_day = obj.groupby(ds.partition_column).size() if len(obj) else pd.Series(dtype=int)
        context.add_output_metadata(
            {
                "rows": dg.MetadataValue.int(int(rows_written)),
                "rows_replaced": dg.MetadataValue.int(int(rows_deleted)),
                "documents": dg.MetadataValue.int(int(documents)),
                "slice": dg.MetadataValue.text(
                    slc.describe()
                    if len(slices) == 1
                    else f"{len(slices)} gap slices in {slc.describe()}"
                ),
                "days_with_rows": dg.MetadataValue.int(len(rows_per_day)),
                "postgres_table": dg.MetadataValue.text(f"{schema}.{ds.name}"),
                "postgres_query": dg.MetadataValue.md(f"```sql\n{query_for(ds, schema, slc)}\n```"),
                "mongo_collection": dg.MetadataValue.text(f"{mongo.database_name}.{ds.name}"),
                "mongo_filter": dg.MetadataValue.json(filter_for(ds, slc)),
                "write_seconds": dg.MetadataValue.float(round(time.monotonic() - started, 3)),
            }
        )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        upstream = context.upstream_output
        key = upstream.asset_key if upstream is not None else context.asset_key
        ds = dataset(key.path[-1])
        start, end = _window(context)
        return self.postgres.store().read_slice(ds, Slice(start, end))
