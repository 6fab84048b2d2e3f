"""Every read the dashboard makes: PostgreSQL inside read-only transactions, MongoDB for raw
documents. Plain functions returning DataFrames; no Streamlit, no Dagster."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from criptopipe.storage.mongo import MongoStore

DEFAULT_BUDGET = 2500


@dataclass(frozen=True)
class Sources:
    pg_url: str | None
    schema: str
    mongo_uri: str | None
    budget: int

    @classmethod
    def from_env(cls) -> Sources:
        raw = os.environ.get("COINCAP_CREDIT_BUDGET") or ""
        return cls(
            pg_url=os.environ.get("DASHBOARD_DATABASE_URL") or os.environ.get("DATABASE_URL"),
            schema=os.environ.get("CRIPTOPIPE_PG_SCHEMA") or "coincap",
            mongo_uri=os.environ.get("MONGODB_URI"),
            budget=int(raw) if raw.isdigit() else DEFAULT_BUDGET,
        )


def _read(
    src: Sources, query: sql.SQL | sql.Composed, params: tuple[Any, ...] = ()
) -> pd.DataFrame:
    if not src.pg_url:
        return pd.DataFrame()
    with psycopg.connect(src.pg_url, connect_timeout=5, options="-c TimeZone=UTC") as conn:
        conn.read_only = True
        cur = conn.execute(query, params)
        cols = [c.name for c in cur.description or []]
        return pd.DataFrame(cur.fetchall(), columns=cols)


def _t(src: Sources, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(src.schema), sql.Identifier(table))


def tables(src: Sources) -> set[str]:
    if not src.pg_url:
        return set()
    frame = _read(
        src,
        sql.SQL("SELECT table_name FROM information_schema.tables WHERE table_schema = %s"),
        (src.schema,),
    )
    return set(frame["table_name"]) if not frame.empty else set()


def latest_assets(src: Sources) -> pd.DataFrame:
    """The latest raw_assets snapshot, by rank."""
    t = _t(src, "raw_assets")
    return _read(
        src,
        sql.SQL(
            "SELECT * FROM {t} WHERE snapshot_date = (SELECT max(snapshot_date) FROM {t}) "
            "ORDER BY rank NULLS LAST"
        ).format(t=t),
    )


def history(src: Sources, coins: list[str] | None = None, days: int | None = None) -> pd.DataFrame:
    t = _t(src, "asset_history")
    where: sql.Composable = sql.SQL("TRUE")
    params: list[Any] = []
    if coins:
        where = sql.SQL("coin_id = ANY(%s)")
        params.append(coins)
    if days:
        where = sql.SQL("{} AND day > (SELECT max(day) FROM {}) - %s").format(where, t)
        params.append(days)
    return _read(
        src,
        sql.SQL(
            "SELECT coin_id, day, price_usd, circulating_supply FROM {} WHERE {} ORDER BY coin_id, day"
        ).format(t, where),
        tuple(params),
    )


def latest_markets(src: Sources, coin: str | None = None) -> pd.DataFrame:
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
    )


def days_loaded(src: Sources) -> pd.DataFrame:
    """(asset, day, rows) for every loaded day of every dataset."""
    parts = []
    for table, col in (
        ("raw_assets", "snapshot_date"),
        ("asset_history", "day"),
        ("market_snapshots", "snapshot_date"),
    ):
        if table in tables(src):
            frame = _read(
                src,
                sql.SQL(
                    "SELECT %s AS asset, {c} AS day, count(*) AS rows FROM {t} GROUP BY {c}"
                ).format(c=sql.Identifier(col), t=_t(src, table)),
                (table,),
            )
            parts.append(frame)
    return (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["asset", "day", "rows"])
    )


def holes(src: Sources, days: int = 365) -> pd.DataFrame:
    """(coin, day) pairs missing from asset_history between each coin's first and last day."""
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
    )


def credits_per_day(src: Sources, days: int = 31) -> pd.DataFrame:
    if "credit_ledger" not in tables(src):
        return pd.DataFrame(columns=["day", "asset", "requests", "credits"])
    return _read(
        src,
        sql.SQL(
            "SELECT recorded_at::date AS day, asset, sum(requests) AS requests, "
            "sum(credits) AS credits FROM {} WHERE recorded_at > now() - make_interval(days => %s) "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        ).format(_t(src, "credit_ledger")),
        (days,),
    )


def credits_this_month(src: Sources) -> int:
    if "credit_ledger" not in tables(src):
        return 0
    now = datetime.now(timezone.utc)
    frame = _read(
        src,
        sql.SQL("SELECT coalesce(sum(credits), 0) AS c FROM {} WHERE recorded_at >= %s").format(
            _t(src, "credit_ledger")
        ),
        (datetime(now.year, now.month, 1, tzinfo=timezone.utc),),
    )
    return int(frame["c"].iloc[0]) if not frame.empty else 0


def last_loads(src: Sources) -> pd.DataFrame:
    parts = []
    for table in ("raw_assets", "asset_history", "market_snapshots"):
        if table in tables(src):
            parts.append(
                _read(
                    src,
                    sql.SQL(
                        "SELECT %s AS asset, max(fetched_at) AS last_fetched, count(*) AS rows FROM {}"
                    ).format(_t(src, table)),
                    (table,),
                )
            )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def latest_checks(src: Sources) -> pd.DataFrame:
    if "check_results" not in tables(src):
        return pd.DataFrame()
    return _read(
        src,
        sql.SQL(
            "SELECT DISTINCT ON (asset, check_name) asset, check_name, partition_key, passed, "
            "severity, description, evaluated_at FROM {} ORDER BY asset, check_name, evaluated_at DESC"
        ).format(_t(src, "check_results")),
    )


def parity(src: Sources, days: int = 7) -> pd.DataFrame:
    """Rows in PostgreSQL vs documents in MongoDB per dataset over the last `days` loaded days."""
    if not src.mongo_uri:
        return pd.DataFrame()
    from criptopipe.storage.datasets import DATASETS
    from criptopipe.storage.postgres import PostgresStore
    from criptopipe.storage.slices import Slice

    assert src.pg_url
    pg = PostgresStore(src.pg_url, schema=src.schema)
    mongo = MongoStore(src.mongo_uri, timeout_ms=3000)
    rows = []
    try:
        for name, ds in DATASETS.items():
            loaded = pg.days_loaded(ds)
            if not loaded:
                continue
            last = loaded[-1][0]
            slc = Slice(last - timedelta(days=days - 1), last + timedelta(days=1))
            pg_keys, mongo_keys = pg.keys(ds, slc), mongo.keys(ds, slc)
            rows.append(
                {
                    "dataset": name,
                    "window": slc.describe(),
                    "postgres": len(pg_keys),
                    "mongodb": len(mongo_keys),
                    "agree": pg_keys == mongo_keys,
                }
            )
    finally:
        mongo.close()
    return pd.DataFrame(rows)


def raw_document(src: Sources, coin: str) -> dict[str, Any] | None:
    """The latest archived raw_assets document for a coin, exactly as stored."""
    if not src.mongo_uri:
        return None
    mongo = MongoStore(src.mongo_uri, timeout_ms=3000)
    try:
        doc = mongo._db["raw_assets"].find_one(
            {"coin_id": coin}, {"_batch": 0}, sort=[("snapshot_date", -1)]
        )
    finally:
        mongo.close()
    return dict(doc) if doc else None


def today() -> date:
    return datetime.now(timezone.utc).date()
