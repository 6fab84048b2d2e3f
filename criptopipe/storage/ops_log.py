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


def _connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, connect_timeout=10, autocommit=True, options="-c TimeZone=UTC")


def ensure(conn: psycopg.Connection[Any], schema: str) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('criptopipe.ops_log'))")
        conn.execute(sql.SQL(_DDL).format(schema=sql.Identifier(schema)))


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


def record_failure(url: str, schema: str, failure: RunFailure, notified: bool) -> None:
    """Idempotent per run: a sensor retick never records a failure twice."""
    with _connect(url) as conn:
        ensure(conn, schema)
        conn.execute(
            sql.SQL(
                "INSERT INTO {}.run_failures (run_id, job_name, asset, partition_key, error, "
                "failed_at, notified) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (run_id) DO UPDATE SET notified = EXCLUDED.notified"
            ).format(sql.Identifier(schema)),
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
