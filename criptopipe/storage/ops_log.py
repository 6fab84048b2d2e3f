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
    """One failed run, as a human acts on it: what failed (assets in asset terms, `step` the
    Dagster step keys), for which partition (`first...last` for a range), the root error of the
    last attempt, how many attempts the failing step had, and where to see the run."""

    run_id: str
    job_name: str
    asset: str | None
    partition_key: str | None
    error: str
    step: str | None = None
    attempts: int | None = None
    run_url: str | None = None


def record_check(store: PostgresStore, rec: CheckRecord) -> None:
    with store.connect() as conn, conn.transaction():
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (asset, check_name, partition_key, passed, severity,"
                " description, metadata) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            ).format(sql.Identifier(store.schema, CHECK_RESULTS)),
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


def record_failure(store: PostgresStore, failure: RunFailure) -> bool:
    """Record a failed run; True only for the call that created its row.

    Two paths see a failed run (the in-run failure hook and the run-failure sensor, which may
    also retick): the row is one per run id, later calls refresh what it says (the sensor sees
    every failed step once the run is over), and the caller that gets True is the one that
    alerts, so the webhook hears of each run once."""
    with store.connect() as conn, conn.transaction():
        row = conn.execute(
            sql.SQL(
                "INSERT INTO {} AS f (run_id, job_name, asset, partition_key, error, step, "
                "attempts, run_url, failed_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (run_id) DO UPDATE SET asset = EXCLUDED.asset, "
                "partition_key = EXCLUDED.partition_key, error = EXCLUDED.error, "
                "step = EXCLUDED.step, attempts = EXCLUDED.attempts, run_url = EXCLUDED.run_url "
                "RETURNING (xmax = 0) AS inserted"
            ).format(sql.Identifier(store.schema, RUN_FAILURES)),
            (
                failure.run_id,
                failure.job_name,
                failure.asset,
                failure.partition_key,
                failure.error[:4000],
                failure.step,
                failure.attempts,
                failure.run_url,
                datetime.now(timezone.utc),
            ),
        ).fetchone()
    return bool(row and row[0])


def mark_notified(store: PostgresStore, run_id: str) -> None:
    with store.connect() as conn, conn.transaction():
        conn.execute(
            sql.SQL("UPDATE {} SET notified = true WHERE run_id = %s").format(
                sql.Identifier(store.schema, RUN_FAILURES)
            ),
            (run_id,),
        )


def failures(store: PostgresStore) -> list[dict[str, Any]]:
    with store.connect(read_only=True) as conn:
        if not store.table_exists(conn, RUN_FAILURES):
            return []
        cur = conn.execute(
            sql.SQL("SELECT * FROM {} ORDER BY failed_at DESC").format(
                sql.Identifier(store.schema, RUN_FAILURES)
            )
        )
        cols = [c.name for c in cur.description or []]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
