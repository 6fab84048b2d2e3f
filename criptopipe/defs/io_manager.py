"""The Dagster adapter over `criptopipe.storage`: every output goes to MongoDB and PostgreSQL.

An asset hands over one `SliceOutput`: the window it owns (the run's partition days, narrowed
to the coins it fetched) and its parts, each a slice inside that window with the rows that
replace it. Both stores replace exactly each part's slice. MongoDB (the raw archive) is written
first, so a typed table is never ahead of the archive it can be rebuilt from; a failure in
either store fails the step (retried only when the server was unreachable), and a rerun
converges both. A write lease on the output's whole window (`criptopipe.storage.leases`) is held
from before the first MongoDB write until the last PostgreSQL commit, so writers of overlapping
slices take turns, whichever process or Dagster instance they run in.
"""

from __future__ import annotations

import time

import dagster as dg
import pandas as pd
from pydantic import Field

from criptopipe import datasets
from criptopipe.defs import catalog
from criptopipe.defs.failures import step_failures
from criptopipe.defs.partitions import window
from criptopipe.defs.resources import MongoResource, PostgresResource
from criptopipe.pipeline.output import SliceOutput
from criptopipe.storage import leases
from criptopipe.storage.errors import StorageError

NOTHING_COMMITTED = (
    " Nothing of the failed slice was committed to PostgreSQL; MongoDB holds a mix a rerun "
    "converges from."
)


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Writes each asset's output to PostgreSQL (typed table) and MongoDB (documents as sent)."""

    postgres: PostgresResource
    mongo: MongoResource
    write_wait_seconds: float = Field(
        default=1800.0,
        description="How long a write waits for another writer of an overlapping slice (same "
        "dataset, overlapping days and coins) to finish before it fails.",
    )

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
        resources = (self.postgres, self.mongo)
        try:
            with step_failures(*resources):  # nothing written yet; the message says why
                mongo.ensure_indexes([ds])
                pg.ensure_schema([ds])
                # one lease for the whole output (every part): taken before the first MongoDB
                # write, released after the last PostgreSQL commit
                lease = leases.acquire(
                    pg,
                    ds.name,
                    obj.window,
                    f"run {context.run_id}",
                    timeout_s=self.write_wait_seconds,
                    progress=context.log.info,
                )
            with step_failures(*resources, suffix=NOTHING_COMMITTED), lease:
                for n, (slc, frame) in enumerate(obj.frames(), start=1):
                    # the raw archive first: a typed table is never ahead of what can rebuild it
                    lease.check()
                    totals["documents"] += mongo.replace_slice(ds, slc, frame).rows_written
                    lease.check()
                    written = pg.replace_slice(ds, slc, frame)
                    totals["rows"] += written.rows_written
                    totals["replaced"] += written.rows_deleted
                    if len(obj.parts) > 1:
                        context.log.info(
                            f"part {n}/{len(obj.parts)} ({slc.describe()}): {len(frame)} "
                            f"{ds.name} rows written ({totals['rows']}/{obj.rows})"
                        )
        finally:
            obj.cleanup()
        slices = len(obj.parts)
        described = obj.window.describe()
        if slices > 1:
            described = f"{slices} slices in {described}"
        try:
            database, table_rows = pg.table_rows(ds)
        except StorageError as exc:  # the write is committed: a missing count must not fail it
            context.log.warning(f"could not count {pg.qualified_name(ds)}: {exc}")
            database, table_rows = "", -1
        collection = f"{mongo.database_name}.{ds.name}"
        catalog_entries = catalog.materialization_metadata(
            ".".join(p for p in (database, pg.qualified_name(ds)) if p), table_rows, collection
        )
        if table_rows < 0:
            del catalog_entries["dagster/row_count"]
        context.add_output_metadata(
            {
                **catalog_entries,
                "rows": dg.MetadataValue.int(totals["rows"]),
                "rows_replaced": dg.MetadataValue.int(totals["replaced"]),
                "documents": dg.MetadataValue.int(totals["documents"]),
                "slice": dg.MetadataValue.text(described),
                "postgres_table": dg.MetadataValue.text(pg.qualified_name(ds)),
                "postgres_query": dg.MetadataValue.md(
                    f"```sql\n{obj.window.select_text(ds, pg.schema)}\n```"
                ),
                "mongo_filter": dg.MetadataValue.json(obj.window.mongo_filter_text(ds)),
                "write_lease_wait_seconds": dg.MetadataValue.float(round(lease.waited, 3)),
                "write_seconds": dg.MetadataValue.float(round(time.monotonic() - started, 3)),
            }
        )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        upstream = context.upstream_output
        key = upstream.asset_key if upstream is not None else context.asset_key
        ds = datasets.get(key.path[-1])
        return self.postgres.store().read_slice(ds, window(context))
