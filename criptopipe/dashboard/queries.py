"""Every read the dashboard makes, and nothing else: no Streamlit, no Dagster.

The dashboard connects with its own, read-only credentials: `DASHBOARD_DATABASE_URL` (a role
with SELECT on the data schema and nothing else; `make dashboard` points it at
`criptopipe_reader`, docker-compose too) and `DASHBOARD_MONGODB_URI` (a user with MongoDB's
`read` role in compose; the embedded wire server has no users). The server refuses the writes,
whatever a transaction says; the read-only transactions below are a second line. Without them
(a deployment that set only the writer's URLs) it falls back to `DATABASE_URL` / `MONGODB_URI`.
MongoDB is read only for the raw CoinCap documents and the parity check, with finds alone. Tables another part of the
pipeline creates on first use (credit ledger, check results, run failures) may not exist yet:
their readers return an empty frame then, never an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from criptopipe import settings
from criptopipe.storage.datasets import DATASETS, RAW_ASSETS
from criptopipe.storage.mongo import MongoStore
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import Slice

MONGO_TIMEOUT_MS = 3000


@dataclass(frozen=True)
class Sources:
    """Where to read from. Hashable, so Streamlit's cache keys each result by its source."""

    pg_url: str | None
    schema: str
    mongo_uri: str | None
    budget: int | None  # credits per month; None when COINCAP_CREDIT_BUDGET=off

    @classmethod
    def from_env(cls) -> Sources:
        return cls(
            pg_url=os.environ.get(settings.DASHBOARD_DATABASE_URL)
            or os.environ.get(settings.DATABASE_URL),
            schema=os.environ.get(settings.PG_SCHEMA) or settings.DEFAULT_SCHEMA,
            mongo_uri=os.environ.get(settings.DASHBOARD_MONGODB_URI)
            or os.environ.get(settings.MONGODB_URI),
            budget=parse_budget(os.environ.get(settings.CREDIT_BUDGET)),
        )


def parse_budget(raw: str | None) -> int | None:
    """Same reading as the pipeline's resource: unset -> the free tier, 'off' -> no budget."""
    if raw is None or not raw.strip():
        return settings.DEFAULT_CREDIT_BUDGET
    if raw.strip().lower() in {"off", "none", "unlimited"}:
        return None
    try:
        return int(raw)
    except ValueError:
        return settings.DEFAULT_CREDIT_BUDGET


def connect(src: Sources) -> psycopg.Connection[Any]:
    """The dashboard's PostgreSQL connection: its own role, read-only transactions."""
    conn = psycopg.connect(
        src.pg_url or "", connect_timeout=5, options="-c TimeZone=UTC", application_name="dashboard"
    )
    conn.read_only = True
    return conn


def _read(
    src: Sources,
    query: sql.SQL | sql.Composed,
    params: tuple[Any, ...] = (),
    needs: str | None = None,
) -> pd.DataFrame:
    """The query's rows, in a read-only transaction; an empty frame when the table it `needs`
    does not exist yet (checked on the same connection: one round trip, not two)."""
    if not src.pg_url:
        return pd.DataFrame()
    with connect(src) as conn:
        if needs is not None:
            name = sql.Identifier(src.schema, needs).as_string(conn)
            found = conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()
            if not found or found[0] is None:
                return pd.DataFrame()
        cur = conn.execute(query, params)
        cols = [c.name for c in cur.description or []]
        return pd.DataFrame(cur.fetchall(), columns=cols)


def _t(src: Sources, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(src.schema), sql.Identifier(table))


def tables(src: Sources) -> frozenset[str]:
    """The schema's tables: pages use it to tell 'nothing loaded yet' from a failure."""
    if not src.pg_url:
        return frozenset()
    frame = _read(
        src,
        sql.SQL("SELECT table_name FROM information_schema.tables WHERE table_schema = %s"),
        (src.schema,),
    )
    return frozenset(frame["table_name"]) if not frame.empty else frozenset()


# ---------------------------------------------------------------------------- market data


def latest_assets(src: Sources) -> pd.DataFrame:
    """The latest raw_assets snapshot, by rank."""
    t = _t(src, "raw_assets")
    return _read(
        src,
        sql.SQL(
            "SELECT * FROM {t} WHERE snapshot_date = (SELECT max(snapshot_date) FROM {t}) "
            "ORDER BY rank NULLS LAST, coin_id"
        ).format(t=t),
        needs="raw_assets",
    )


def trends(src: Sources, days: int = 30) -> dict[str, list[float]]:
    """Each coin's last `days` daily prices, oldest first (the Market table's sparkline).

    Aggregated in PostgreSQL: one row per coin instead of days x coins rows to pandas."""
    t = _t(src, "asset_history")
    frame = _read(
        src,
        sql.SQL(
            "SELECT coin_id, array_agg(price_usd::float8 ORDER BY day) AS prices FROM {t} "
            "WHERE day > (SELECT max(day) FROM {t}) - %s AND price_usd IS NOT NULL "
            "GROUP BY coin_id"
        ).format(t=t),
        (days,),
        needs="asset_history",
    )
    return dict(zip(frame["coin_id"], frame["prices"], strict=True)) if not frame.empty else {}


def coins(src: Sources) -> list[str]:
    """Coins with any history, bitcoin first when present (the Coin page's default)."""
    frame = _read(
        src,
        sql.SQL("SELECT DISTINCT coin_id FROM {} ORDER BY coin_id").format(
            _t(src, "asset_history")
        ),
        needs="asset_history",
    )
    ids = list(frame["coin_id"]) if not frame.empty else []
    return sorted(ids, key=lambda c: (c != "bitcoin", c))


def coin_history(src: Sources, coin: str) -> pd.DataFrame:
    """One coin's daily prices and circulating supply, by day."""
    return _read(
        src,
        sql.SQL(
            "SELECT day, price_usd, circulating_supply FROM {} WHERE coin_id = %s ORDER BY day"
        ).format(_t(src, "asset_history")),
        (coin,),
        needs="asset_history",
    )


def coin_snapshot(src: Sources, coin: str) -> dict[str, Any] | None:
    """The coin's row in the latest raw_assets snapshot that has it (supply, max supply, rank)."""
    frame = _read(
        src,
        sql.SQL("SELECT * FROM {} WHERE coin_id = %s ORDER BY snapshot_date DESC LIMIT 1").format(
            _t(src, "raw_assets")
        ),
        (coin,),
        needs="raw_assets",
    )
    return {str(k): v for k, v in frame.iloc[0].items()} if not frame.empty else None


def latest_markets(src: Sources, coin: str | None = None) -> pd.DataFrame:
    """Markets of the latest market_snapshots day, one coin's or all, by volume."""
    t = _t(src, "market_snapshots")
    where = sql.SQL("snapshot_date = (SELECT max(snapshot_date) FROM {})").format(t)
    params: tuple[Any, ...] = ()
    if coin:
        where = sql.SQL("{} AND coin_id = %s").format(where)
        params = (coin,)
    return _read(
        src,
        sql.SQL("SELECT * FROM {} WHERE {} ORDER BY volume_usd_24hr DESC NULLS LAST").format(
            t, where
        ),
        params,
        needs="market_snapshots",
    )


def raw_document(src: Sources, coin: str) -> dict[str, Any] | None:
    """The latest archived raw_assets document for a coin, as stored (batch marker left out)."""
    if not src.mongo_uri:
        return None
    mongo = MongoStore(src.mongo_uri, timeout_ms=MONGO_TIMEOUT_MS)
    try:
        doc = mongo.collection(RAW_ASSETS).find_one(
            {RAW_ASSETS.coin_column: coin},
            {"_batch": 0},
            sort=[(RAW_ASSETS.partition_column, -1)],
        )
    finally:
        mongo.close()
    return dict(doc) if doc else None


# ---------------------------------------------------------------------------- pipeline health

_PARTITION_COLUMNS = {name: ds.partition_column for name, ds in DATASETS.items()}


def days_loaded(src: Sources) -> pd.DataFrame:
    """(asset, day, rows) for every loaded day of every dataset, in one round trip."""
    present = [(n, c) for n, c in _PARTITION_COLUMNS.items() if n in tables(src)]
    if not present:
        return pd.DataFrame(columns=["asset", "day", "rows"])
    union = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {n} AS asset, {c} AS day, count(*) AS rows FROM {t} GROUP BY {c}").format(
            n=sql.Literal(name), c=sql.Identifier(col), t=_t(src, name)
        )
        for name, col in present
    )
    return _read(src, sql.SQL("{} ORDER BY 1, 2").format(union))


def holes(src: Sources, days: int = 365) -> pd.DataFrame:
    """(coin, day) pairs missing from asset_history between each coin's first and last loaded
    day (within the last `days`): what `criptopipe fill-gaps` would fetch."""
    t = _t(src, "asset_history")
    return _read(
        src,
        sql.SQL(
            "WITH span AS (SELECT coin_id, greatest(min(day), max(day) - %s) AS lo, max(day) AS hi "
            "FROM {t} GROUP BY coin_id) "
            "SELECT s.coin_id, d::date AS day FROM span s, generate_series(s.lo, s.hi, '1 day') d "
            "WHERE NOT EXISTS (SELECT 1 FROM {t} h WHERE h.coin_id = s.coin_id AND h.day = d::date) "
            "ORDER BY 1, 2"
        ).format(t=t),
        (days,),
        needs="asset_history",
    )


def last_loads(src: Sources) -> pd.DataFrame:
    """Per dataset: when it was last fetched, the latest day it holds, and its rows."""
    present = [(n, c) for n, c in _PARTITION_COLUMNS.items() if n in tables(src)]
    if not present:
        return pd.DataFrame(columns=["asset", "last_fetched", "latest_day", "rows"])
    union = sql.SQL(" UNION ALL ").join(
        sql.SQL(
            "SELECT {n} AS asset, max(fetched_at) AS last_fetched, max({c}) AS latest_day, "
            "count(*) AS rows FROM {t}"
        ).format(n=sql.Literal(name), c=sql.Identifier(col), t=_t(src, name))
        for name, col in present
    )
    return _read(src, union)


def recent_runs(src: Sources, limit: int = 10) -> pd.DataFrame:
    """The last fetches in the credit ledger: which run, which window, what it cost."""
    return _read(
        src,
        sql.SQL(
            "SELECT recorded_at, run_id, asset, partition_start, partition_end - 1 AS partition_last, "
            "requests, credits, succeeded, source FROM {} ORDER BY recorded_at DESC LIMIT %s"
        ).format(_t(src, "credit_ledger")),
        (limit,),
        needs="credit_ledger",
    )


def credits_per_day(src: Sources, since: date) -> pd.DataFrame:
    """Credits and requests spent per UTC day and asset since `since` (from the ledger)."""
    return _read(
        src,
        sql.SQL(
            "SELECT (recorded_at AT TIME ZONE 'UTC')::date AS day, asset, "
            "sum(requests)::int AS requests, sum(credits)::int AS credits FROM {} "
            "WHERE recorded_at >= %s GROUP BY 1, 2 ORDER BY 1, 2"
        ).format(_t(src, "credit_ledger")),
        (datetime(since.year, since.month, since.day, tzinfo=timezone.utc),),
        needs="credit_ledger",
    )


def latest_checks(src: Sources) -> pd.DataFrame:
    """Each check's latest verdict (failures first), from coincap.check_results."""
    return _read(
        src,
        sql.SQL(
            "SELECT * FROM (SELECT DISTINCT ON (asset, check_name) asset, check_name, "
            "partition_key, passed, severity, description, evaluated_at FROM {} "
            "ORDER BY asset, check_name, evaluated_at DESC) latest "
            "ORDER BY passed, asset, check_name"
        ).format(_t(src, "check_results")),
        needs="check_results",
    )


def run_failures(src: Sources, limit: int = 10) -> pd.DataFrame:
    """The most recent failed runs, from coincap.run_failures."""
    return _read(
        src,
        sql.SQL(
            "SELECT failed_at, run_id, job_name, asset, partition_key, error FROM {} "
            "ORDER BY failed_at DESC LIMIT %s"
        ).format(_t(src, "run_failures")),
        (limit,),
        needs="run_failures",
    )


def parity(src: Sources, latest: tuple[tuple[str, date], ...], days: int = 7) -> pd.DataFrame:
    """Natural keys in PostgreSQL vs MongoDB per dataset over the `days` up to its latest loaded
    day (`latest`: (dataset, day) pairs, from days_loaded, so the tables are not scanned again)."""
    if not src.mongo_uri or not src.pg_url or not latest:
        return pd.DataFrame()
    pg = PostgresStore(src.pg_url, schema=src.schema)  # keys() reads in read-only transactions
    mongo = MongoStore(src.mongo_uri, timeout_ms=MONGO_TIMEOUT_MS)
    rows = []
    try:
        for name, last in latest:
            ds = DATASETS[name]
            slc = Slice(last - timedelta(days=days - 1), last + timedelta(days=1))
            pg_keys, mongo_keys = pg.keys(ds, slc), mongo.keys(ds, slc)
            rows.append(
                {
                    "dataset": name,
                    "window": slc.describe(),
                    "postgres": len(pg_keys),
                    "mongodb": len(mongo_keys),
                    "only in postgres": len(pg_keys - mongo_keys),
                    "only in mongodb": len(mongo_keys - pg_keys),
                    "agree": pg_keys == mongo_keys,
                }
            )
    finally:
        mongo.close()
    return pd.DataFrame(rows)


def today() -> date:
    return datetime.now(timezone.utc).date()
