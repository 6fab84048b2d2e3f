"""`criptopipe replay` told to Dagster: one materialization per partition it rebuilt.

Replay rewrites PostgreSQL from the MongoDB archive outside any Dagster run (zero API calls, no
step to retry). So that the UI does not go on showing the old materialization of a table it
rebuilt, each day replay replaced is reported to the instance as a runless materialization of
that partition, with the rows it wrote; days the archive does not hold were left alone and are
not reported. Days outside the asset's partitions (a snapshot day before
CRIPTOPIPE_SNAPSHOT_START) are written to the table but are no partition to report.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import dagster as dg
from dagster._core.errors import DagsterHomeNotSetError  # raised by DagsterInstance.get(), no alias

from criptopipe.datasets import Dataset
from criptopipe.defs.partitions import START_DATE
from criptopipe.pipeline.replay import ReplayResult
from criptopipe.storage.postgres import PostgresStore


def first_partition(ds: Dataset, snapshot_start: date) -> date:
    return snapshot_start if ds.snapshot else date.fromisoformat(START_DATE)


def report_replay(
    ds: Dataset,
    result: ReplayResult,
    pg: PostgresStore,
    snapshot_start: date,
    say: Callable[[str], None],
) -> int:
    """Report each rebuilt partition to the project's Dagster instance; returns how many."""
    database, row_count = pg.table_rows(ds)
    table_name = f"{database}.{pg.qualified_name(ds)}"
    first = first_partition(ds, snapshot_start)
    days = sorted(d for d in result.rows_per_day if d >= first)
    try:
        instance = dg.DagsterInstance.get()
    except DagsterHomeNotSetError:
        say(f"{ds.name}: not recorded in Dagster (DAGSTER_HOME is not set: no instance to tell)")
        return 0
    with instance:
        for day in days:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key=ds.name,
                    partition=str(day),
                    description="Rebuilt by `criptopipe replay` from the MongoDB raw archive.",
                    metadata={
                        "rows": result.rows_per_day[day],
                        "rebuilt_from": "MongoDB raw archive",
                        "requests": 0,
                        "dagster/table_name": table_name,
                        "dagster/row_count": row_count,
                    },
                )
            )
    if days:
        say(f"{ds.name}: {len(days)} rebuilt partition(s) recorded in Dagster")
    return len(days)
