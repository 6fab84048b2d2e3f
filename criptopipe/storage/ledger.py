"""The credit ledger: what each run actually spent at its source, in PostgreSQL.

One row per (run, asset) fetch: requests, response bytes and credits, the partition window and
the source (its base URL). Rows are written even when the fetch fails (the credits are spent all
the same), so the month's burn against the budget is always known (`spent_this_month`). The
table is created by `PostgresStore.ensure_schema`; before that, nothing has been spent.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from datetime import date, datetime, timezone

from psycopg import sql

from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.schema import LEDGER


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


def record(store: PostgresStore, entry: LedgerEntry) -> None:
    with store.connect() as conn, conn.transaction():
        conn.execute(
            sql.SQL(
                "INSERT INTO {}.{} (run_id, asset, partition_start, partition_end, requests, "
                "bytes, credits, source, succeeded) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ).format(sql.Identifier(store.schema), sql.Identifier(LEDGER)),
            astuple(entry),
        )


def spent_since(
    store: PostgresStore, since: datetime, source: str | None = None
) -> dict[str, tuple[int, int, int]]:
    """Requests, bytes and credits per asset recorded since `since` (against `source` only, when
    given: credits spent on the sandbox are not credits spent on CoinCap)."""
    with store.connect(read_only=True) as conn:
        if not store.table_exists(conn, LEDGER):
            return {}
        rows = conn.execute(
            sql.SQL(
                "SELECT asset, sum(requests), sum(bytes), sum(credits) FROM {}.{} "
                "WHERE recorded_at >= %s AND (%s::text IS NULL OR source = %s) "
                "GROUP BY asset ORDER BY asset"
            ).format(sql.Identifier(store.schema), sql.Identifier(LEDGER)),
            (since, source, source),
        ).fetchall()
    return {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in rows}


def spent_by_source(
    store: PostgresStore, since: datetime
) -> dict[tuple[str, str], tuple[int, int, int]]:
    """Requests, bytes and credits per (asset, source) recorded since `since`: CoinCap's URL
    and each exchange's apart."""
    with store.connect(read_only=True) as conn:
        if not store.table_exists(conn, LEDGER):
            return {}
        rows = conn.execute(
            sql.SQL(
                "SELECT asset, source, sum(requests), sum(bytes), sum(credits) FROM {}.{} "
                "WHERE recorded_at >= %s GROUP BY asset, source ORDER BY asset, source"
            ).format(sql.Identifier(store.schema), sql.Identifier(LEDGER)),
            (since,),
        ).fetchall()
    return {(r[0], r[1]): (int(r[2]), int(r[3]), int(r[4])) for r in rows}


def month_start(now: datetime | None = None) -> datetime:
    now = now or datetime.now(timezone.utc)
    return datetime(now.year, now.month, 1, tzinfo=timezone.utc)


def spent_this_month(
    store: PostgresStore, now: datetime | None = None, source: str | None = None
) -> int:
    """Credits recorded since the first day of the current UTC month."""
    return sum(c for _, _, c in spent_since(store, month_start(now), source).values())
