"""The operations log in PostgreSQL: check results and failed runs, for the dashboard and humans.

Dagster keeps its own history; these two small tables put the same facts next to the data, so the
dashboard (which must not import Dagster) can show what passed, what failed and when. The tables
are created by `PostgresStore.ensure_schema`; readers treat a missing table as an empty log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from psycopg import sql

from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.schema import CHECK_RESULTS, RUN_FAILURES


@dataclass(frozen=True)
class CheckRecord:
    asset: str
    check_name: str
    partition_key: str | None
    passed: bool
    severity: str
    description: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class RunFailure:
    run_id: str
    job_name: str
    asset: str | None
    partition_key: str | None
    error: str


def record_check(store: PostgresStore, rec: CheckRecord) -> None:
    with store.connect() as conn, conn.transaction():
        conn.execute(
            sql.SQL(
                "INSERT INTO {}.{} (asset, check_name, partition_key, passed, severity,"
                " description, metadata) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            ).format(sql.Identifier(store.schema), sql.Identifier(CHECK_RESULTS)),
            (
                rec.asset,
                rec.check_name,
                rec.partition_key,
                rec.passed,
                rec.severity,
                rec.description,
                json.dumps(rec.metadata, default=str),
            ),
        )


def record_failure(store: PostgresStore, failure: RunFailure, notified: bool) -> None:
    """Idempotent per run: a sensor retick never records a failure twice."""
    with store.connect() as conn, conn.transaction():
        conn.execute(
            sql.SQL(
                "INSERT INTO {}.{} (run_id, job_name, asset, partition_key, error, "
                "failed_at, notified) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (run_id) DO UPDATE SET notified = EXCLUDED.notified"
            ).format(sql.Identifier(store.schema), sql.Identifier(RUN_FAILURES)),
            (
                failure.run_id,
                failure.job_name,
                failure.asset,
                failure.partition_key,
                failure.error[:4000],
                datetime.now(timezone.utc),
                notified,
            ),
        )


def failures(store: PostgresStore) -> list[dict[str, Any]]:
    with store.connect(read_only=True) as conn:
        if not store.table_exists(conn, RUN_FAILURES):
            return []
        cur = conn.execute(
            sql.SQL("SELECT * FROM {}.{} ORDER BY failed_at DESC").format(
                sql.Identifier(store.schema), sql.Identifier(RUN_FAILURES)
            )
        )
        cols = [c.name for c in cur.description or []]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
