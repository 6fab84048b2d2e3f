"""The operations log in PostgreSQL: check results and failed runs, for the dashboard and humans.

Dagster keeps its own history; these two small tables put the same facts next to the data, so the
dashboard (which must not import Dagster) can show what passed, what failed and when.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg import sql

_DDL = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.check_results (
    id bigserial PRIMARY KEY,
    asset text NOT NULL,
    check_name text NOT NULL,
    partition_key text,
    passed boolean NOT NULL,
    severity text NOT NULL,
    description text NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{{}}',
    evaluated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS check_results_evaluated_at_idx ON {schema}.check_results (evaluated_at);
CREATE TABLE IF NOT EXISTS {schema}.run_failures (
    run_id text PRIMARY KEY,
    job_name text NOT NULL,
    asset text,
    partition_key text,
    error text NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now(),
    notified boolean NOT NULL DEFAULT false
);
"""
#: Columns run_failures gained after its first release: added in place on first use.
_RUN_FAILURE_COLUMNS = {"step": "text", "attempts": "integer", "run_url": "text"}


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


def _connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, connect_timeout=10, autocommit=True, options="-c TimeZone=UTC")


def ensure(conn: psycopg.Connection[Any], schema: str) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('criptopipe.ops_log'))")
        conn.execute(sql.SQL(_DDL).format(schema=sql.Identifier(schema)))
        present = {
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = 'run_failures'",
                (schema,),
            )
        }
        for column, kind in _RUN_FAILURE_COLUMNS.items():
            if column not in present:  # ALTER takes an exclusive lock: only when needed
                conn.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                        sql.Identifier(schema, "run_failures"),
                        sql.Identifier(column),
                        sql.SQL(kind),
                    )
                )


def record_check(url: str, schema: str, rec: CheckRecord) -> None:
    with _connect(url) as conn:
        ensure(conn, schema)
        conn.execute(
            sql.SQL(
                "INSERT INTO {}.check_results (asset, check_name, partition_key, passed, severity,"
                " description, metadata) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            ).format(sql.Identifier(schema)),
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


def record_failure(url: str, schema: str, failure: RunFailure) -> bool:
    """Record a failed run; True only for the call that created its row.

    Two paths see a failed run (the in-run failure hook and the run-failure sensor, which may
    also retick): the row is one per run id, later calls refresh what it says (the sensor sees
    every failed step once the run is over), and the caller that gets True is the one that
    alerts, so the webhook hears of each run once."""
    with _connect(url) as conn:
        ensure(conn, schema)
        row = conn.execute(
            sql.SQL(
                "INSERT INTO {} AS f (run_id, job_name, asset, partition_key, error, step, "
                "attempts, run_url, failed_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (run_id) DO UPDATE SET asset = EXCLUDED.asset, "
                "partition_key = EXCLUDED.partition_key, error = EXCLUDED.error, "
                "step = EXCLUDED.step, attempts = EXCLUDED.attempts, run_url = EXCLUDED.run_url "
                "RETURNING (xmax = 0) AS inserted"
            ).format(sql.Identifier(schema, "run_failures")),
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


def mark_notified(url: str, schema: str, run_id: str) -> None:
    with _connect(url) as conn:
        conn.execute(
            sql.SQL("UPDATE {} SET notified = true WHERE run_id = %s").format(
                sql.Identifier(schema, "run_failures")
            ),
            (run_id,),
        )


def failures(url: str, schema: str) -> list[dict[str, Any]]:
    with _connect(url) as conn:
        ensure(conn, schema)
        cur = conn.execute(
            sql.SQL("SELECT * FROM {}.run_failures ORDER BY failed_at DESC").format(
                sql.Identifier(schema)
            )
        )
        cols = [c.name for c in cur.description or []]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
