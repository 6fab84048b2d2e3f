"""What the Dagster catalog shows about a dataset, built from its registry entry.

- On the definition: `dagster/column_schema` (a `TableSchema` of the PostgreSQL table: types,
  NOT NULL, non-negative, the natural key, each column's description), owners, tags and a code
  version that changes with the table's shape or the row-building logic.
- On each materialization (the IO manager): `dagster/table_name` (database.schema.table),
  `dagster/row_count` (the whole table after the write) and the MongoDB collection.
"""

from __future__ import annotations

import hashlib
from typing import Any

import dagster as dg

from criptopipe.datasets import Dataset

OWNERS = ["team:criptopipe"]
#: bump when the rows an asset writes change for a reason the table's shape does not show (the
#: transform, which days it covers); a shape change bumps the code version by itself
LOGIC_VERSION = 1


def column_schema(ds: Dataset) -> dg.TableSchema:
    """The PostgreSQL table of `ds` as Dagster's catalog shows it."""
    columns = []
    for c in ds.columns:
        other = ["non-negative"] if c.non_negative else []
        if c.name in ds.key:
            other.append(f"part of the natural key ({', '.join(ds.key)})")
        columns.append(
            dg.TableColumn(
                name=c.name,
                type=c.pg_type,
                description=c.description or None,
                constraints=dg.TableColumnConstraints(nullable=c.nullable, other=other or None),
            )
        )
    return dg.TableSchema(
        columns=columns,
        constraints=dg.TableConstraints(other=[f"primary key ({', '.join(ds.key)})"]),
    )


def code_version(ds: Dataset) -> str:
    shape = repr((ds.key, [(c.name, c.pg_type, c.nullable, c.non_negative) for c in ds.columns]))
    return f"{LOGIC_VERSION}.{hashlib.sha1(shape.encode()).hexdigest()[:10]}"


def tags(ds: Dataset) -> dict[str, str]:
    return {"source": ds.source, "dataset": "snapshot" if ds.snapshot else "series"}


def definition_metadata(ds: Dataset) -> dict[str, Any]:
    return {
        "dagster/column_schema": column_schema(ds),
        "natural_key": ", ".join(ds.key),
        "partition_column": ds.partition_column,
    }


def materialization_metadata(
    table_name: str, row_count: int, collection: str
) -> dict[str, dg.MetadataValue]:
    return {
        "dagster/table_name": dg.MetadataValue.text(table_name),
        "dagster/row_count": dg.MetadataValue.int(row_count),
        "mongo_collection": dg.MetadataValue.text(collection),
    }
