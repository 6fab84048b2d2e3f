"""All the DDL: the datasets' tables and the pipeline's own (credit ledger, operations log, write
leases), as the statements still missing from what the catalog shows.

`PostgresStore.ensure_schema` runs it (and only it does), once per run, under an advisory lock.
Nothing runs for what exists: `ALTER TABLE` and `CREATE INDEX` lock their table even when there
is nothing to do, so a writer starting while another one's COPY is open would wait for it (and
make every reader queue behind its lock request). The modules that write and read these tables
(`ledger.py`, `ops_log.py`, `leases.py`) run DML only and treat a missing table as empty.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from criptopipe.storage import leases
from criptopipe.storage.tables import Table

LEDGER = "credit_ledger"
CHECK_RESULTS = "check_results"
RUN_FAILURES = "run_failures"

_SYSTEM = {
    LEDGER: """CREATE TABLE IF NOT EXISTS {t} (
    id bigserial PRIMARY KEY,
    run_id text NOT NULL,
    asset text NOT NULL,
    partition_start date NOT NULL,
    partition_end date NOT NULL,
    requests integer NOT NULL,
    bytes bigint NOT NULL,
    credits integer NOT NULL,
    source text NOT NULL,
    succeeded boolean NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
)""",
    CHECK_RESULTS: """CREATE TABLE IF NOT EXISTS {t} (
    id bigserial PRIMARY KEY,
    asset text NOT NULL,
    check_name text NOT NULL,
    partition_key text,
    passed boolean NOT NULL,
    severity text NOT NULL,
    description text NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{{}}',
    evaluated_at timestamptz NOT NULL DEFAULT now()
)""",
    RUN_FAILURES: """CREATE TABLE IF NOT EXISTS {t} (
    run_id text PRIMARY KEY,
    job_name text NOT NULL,
    asset text,
    partition_key text,
    error text NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now(),
    notified boolean NOT NULL DEFAULT false
)""",
}
_SYSTEM_INDEXES = {
    f"{LEDGER}_recorded_at_idx": (LEDGER, "recorded_at"),
    f"{CHECK_RESULTS}_evaluated_at_idx": (CHECK_RESULTS, "evaluated_at"),
}
#: columns the system tables gained after their first release, added in place
_ADDED_COLUMNS = {RUN_FAILURES: {"step": "text", "attempts": "integer", "run_url": "text"}}

Present = dict[str, set[str]]


def relations(conn: psycopg.Connection[Any], schema: str) -> Present | None:
    """The schema's tables and indexes with their columns; None when the schema is missing."""
    if not conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone():
        return None
    rows = conn.execute(
        "SELECT c.relname, a.attname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
        "AND NOT a.attisdropped WHERE n.nspname = %s",
        (schema,),
    ).fetchall()
    out: Present = {}
    for relname, attname in rows:
        out.setdefault(str(relname), set())
        if attname is not None:
            out[str(relname)].add(str(attname))
    return out


def system_ddl(schema: str, present: Present) -> list[sql.Composed]:
    """What the pipeline's own tables still need."""
    out: list[sql.Composed] = []
    for name, create in _SYSTEM.items():
        table = sql.Identifier(schema, name)
        if name not in present:
            out.append(sql.SQL(create).format(t=table))
        for column, kind in _ADDED_COLUMNS.get(name, {}).items():
            if column not in present.get(name, set()):
                out.append(
                    sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                        table, sql.Identifier(column), sql.SQL(kind)
                    )
                )
    for index, (name, column) in _SYSTEM_INDEXES.items():
        if index not in present:
            out.append(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                    sql.Identifier(index), sql.Identifier(schema, name), sql.Identifier(column)
                )
            )
    if leases.TABLE not in present:
        out.extend(lease_ddl(schema))
    return out


def table_ddl(schema: str, ds: Table, present: Present) -> list[sql.Composed]:
    """What a dataset's table still needs: the table, columns added to the contract later, and
    its indexes."""
    table = sql.Identifier(schema, ds.name)
    out: list[sql.Composed] = []
    columns = present.get(ds.name)
    if columns is None:
        cols = [
            sql.SQL("{} {}{}").format(
                sql.Identifier(c.name),
                sql.SQL(c.pg_type),
                sql.SQL("" if c.nullable else " NOT NULL"),
            )
            for c in ds.columns
        ]
        pk = sql.SQL(", ").join(sql.Identifier(k) for k in ds.key)
        out.append(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}))").format(
                table, sql.SQL(", ").join(cols), pk
            )
        )
        columns = set(ds.column_names)
    for c in ds.columns:
        if c.name not in columns:
            out.append(
                sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                    table, sql.Identifier(c.name), sql.SQL(c.pg_type)
                )
            )
    for idx in ds.indexes:
        name = f"{ds.name}_{'_'.join(idx)}_idx"
        if name not in present:
            out.append(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                    sql.Identifier(name), table, sql.SQL(", ").join(sql.Identifier(c) for c in idx)
                )
            )
    return out


def lease_ddl(schema: str) -> list[sql.Composed]:
    table = sql.Identifier(schema, leases.TABLE)
    return [
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            "id serial PRIMARY KEY, "
            "dataset text NOT NULL, "
            "first_day date NOT NULL, "
            "end_day date NOT NULL, "
            "coins text[], "
            "owner text NOT NULL, "
            "host text NOT NULL, "
            "pid integer NOT NULL, "
            "since timestamptz NOT NULL DEFAULT now())"
        ).format(table),
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (dataset)").format(
            sql.Identifier(f"{leases.TABLE}_dataset_idx"), table
        ),
    ]
