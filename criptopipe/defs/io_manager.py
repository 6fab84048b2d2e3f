"""The Dagster adapter over `criptopipe.storage`: every output goes to MongoDB and PostgreSQL.

An asset hands over one `SliceOutput`: the window it owns (the run's partition days, narrowed
to the coins it fetched) and its parts, each a slice inside that window with the rows that
replace it. Both stores replace exactly each part's slice. MongoDB (the raw archive) is written
first, so a typed table is never ahead of the archive it can be rebuilt from; a failure in
either store fails the step (retried only when the server was unreachable), and a rerun
converges both.
"""

from __future__ import annotations

import time

import dagster as dg
import pandas as pd

from criptopipe import datasets
from criptopipe.defs.partitions import window
from criptopipe.defs.resources import MongoResource, PostgresResource
from criptopipe.pipeline.output import SliceOutput
from criptopipe.storage.errors import StorageError
from criptopipe.storage.slices import OutOfSliceError


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Writes each asset's output to PostgreSQL (typed table) and MongoDB (documents as sent)."""

    postgres: PostgresResource
    mongo: MongoResource

    def handle_output(self, context: dg.OutputContext, obj: SliceOutput) -> None:
        ds = datasets.get(context.asset_key.path[-1])
        run_window = window(context)
        if not obj.window.within(run_window):
            raise dg.Failure(
                description=f"{ds.name}: the output's slice {obj.window.describe()} lies outside "
                f"the run's partitions {run_window.describe()}",
                allow_retries=False,
            )
        pg, mongo = self.postgres.store(), self.mongo.store()
        started = time.monotonic()
        totals = {"rows": 0, "replaced": 0, "documents": 0}
        try:
            mongo.ensure_indexes([ds])
            pg.ensure_schema([ds])
            for n, (slc, frame) in enumerate(obj.frames(), start=1):
                # the raw archive first: a typed table is never ahead of what can rebuild it
                totals["documents"] += mongo.replace_slice(ds, slc, frame).rows_written
                written = pg.replace_slice(ds, slc, frame)
                totals["rows"] += written.rows_written
                totals["replaced"] += written.rows_deleted
                if len(obj.parts) > 1:
                    context.log.info(
                        f"part {n}/{len(obj.parts)} ({slc.describe()}): {len(frame)} {ds.name} "
                        f"rows written ({totals['rows']}/{obj.rows})"
                    )
        except (StorageError, OutOfSliceError) as exc:
            raise dg.Failure(
                description=f"{exc} Nothing of the failed slice was committed to PostgreSQL; "
                "MongoDB holds a mix a rerun converges from.",
                allow_retries=exc.retryable,
            ) from exc
        finally:
            obj.cleanup()
        slices = len(obj.parts)
        described = obj.window.describe()
        if slices > 1:
            described = f"{slices} slices in {described}"
        context.add_output_metadata(
            {
                "rows": dg.MetadataValue.int(totals["rows"]),
                "rows_replaced": dg.MetadataValue.int(totals["replaced"]),
                "documents": dg.MetadataValue.int(totals["documents"]),
                "slice": dg.MetadataValue.text(described),
                "postgres_table": dg.MetadataValue.text(pg.qualified_name(ds)),
                "postgres_query": dg.MetadataValue.md(
                    f"```sql\n{obj.window.select_text(ds, pg.schema)}\n```"
                ),
                "mongo_collection": dg.MetadataValue.text(f"{mongo.database_name}.{ds.name}"),
                "mongo_filter": dg.MetadataValue.json(obj.window.mongo_filter_text(ds)),
                "write_seconds": dg.MetadataValue.float(round(time.monotonic() - started, 3)),
            }
        )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        upstream = context.upstream_output
        key = upstream.asset_key if upstream is not None else context.asset_key
        ds = datasets.get(key.path[-1])
        return self.postgres.store().read_slice(ds, window(context))
