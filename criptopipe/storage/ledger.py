"""The credit ledger: what each run actually spent at CoinCap, in PostgreSQL.

One row per (run, asset) fetch: requests, response bytes and v3 credits, the partition window and
the source. Rows are written even when the fetch fails (the credits are spent all the same), so
the month's burn against `COINCAP_CREDIT_BUDGET` is always known (`spent_this_month`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

import psycopg
from psycopg import sql

TABLE = "credit_ledger"


@dataclass(frozen=True)
class LedgerEntry:
    run_id: str
    asset: str
    partition_start: date
    partition_end: date  # exclusive
    requests: int
    bytes: int
    credits: int
    source: str  # base URL, never the key
    succeeded: bool


_DDL = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.{table} (
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
);
CREATE INDEX IF NOT EXISTS {index} ON {schema}.{table} (recorded_at);
"""


def _ddl(schema: str) -> sql.Composed:
    return sql.SQL(_DDL).format(
        schema=sql.Identifier(schema),
        table=sql.Identifier(TABLE),
        index=sql.Identifier(f"{TABLE}_recorded_at_idx"),
    )


def record(url: str, schema: str, entry: LedgerEntry) -> None:
    with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('criptopipe.ledger.ddl'))")
            conn.execute(_ddl(schema))
        conn.execute(
            sql.SQL(
                "INSERT INTO {}.{} (run_id, asset, partition_start, partition_end, requests, "
                "bytes, credits, source, succeeded) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ).format(sql.Identifier(schema), sql.Identifier(TABLE)),
            (
                entry.run_id,
                entry.asset,
                entry.partition_start,
                entry.partition_end,
                entry.requests,
                entry.bytes,
                entry.credits,
                entry.source,
                entry.succeeded,
            ),
        )


def _exists(conn: psycopg.Connection, schema: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s)", (f'"{schema}"."{TABLE}"',)).fetchone()
    return bool(row and row[0])


def spent_since(
    url: str, schema: str, since: datetime, source: str | None = None
) -> dict[str, tuple[int, int, int]]:
    """Requests, bytes and credits per asset recorded since `since` (against `source` only, when
    given: credits spent on the sandbox are not credits spent on CoinCap)."""
    with psycopg.connect(url, connect_timeout=10) as conn:
        if not _exists(conn, schema):
            return {}
        rows = conn.execute(
            sql.SQL(
                "SELECT asset, sum(requests), sum(bytes), sum(credits) FROM {}.{} "
                "WHERE recorded_at >= %s AND (%s::text IS NULL OR source = %s) "
                "GROUP BY asset ORDER BY asset"
            ).format(sql.Identifier(schema), sql.Identifier(TABLE)),
            (since, source, source),
        ).fetchall()
    return {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in rows}


def spent_this_month(
    url: str, schema: str, now: datetime | None = None, source: str | None = None
) -> int:
    """Credits recorded since the first day of the current UTC month."""
    now = now or datetime.now(timezone.utc)
    month_start = datetime(now.year, now.month, 1, tzinfo=timezone.utc)
    return sum(c for _, _, c in spent_since(url, schema, month_start, source).values())
