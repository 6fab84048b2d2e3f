"""Every read the dashboard makes, and nothing else: no Streamlit, no Dagster.

The dashboard connects with its own, read-only credentials (`sources.py`): the server refuses
its writes, whatever a transaction says. MongoDB is read only for the raw documents and the
parity check, with finds alone. Tables the pipeline creates on first use (credit ledger, check
results, run failures) may not exist yet: their readers return an empty frame, never an error.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd
from psycopg import sql
from pymongo.errors import PyMongoError

from criptopipe import datasets
from criptopipe.dashboard.sources import Sources, read, table, tables
from criptopipe.datasets import RAW_ASSETS
from criptopipe.storage.slices import Slice

__all__ = ["Sources", "tables"]

# ---------------------------------------------------------------------------- market data


def latest_assets(src: Sources) -> pd.DataFrame:
    """The latest raw_assets snapshot, by rank."""
    t = table(src, "raw_assets")
    return read(
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
    t = table(src, "asset_history")
    frame = read(
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
    frame = read(
        src,
        sql.SQL("SELECT DISTINCT coin_id FROM {} ORDER BY coin_id").format(
            table(src, "asset_history")
        ),
        needs="asset_history",
    )
    ids = list(frame["coin_id"]) if not frame.empty else []
    return sorted(ids, key=lambda c: (c != "bitcoin", c))


def coin_history(src: Sources, coin: str) -> pd.DataFrame:
    """One coin's daily prices and circulating supply, by day."""
    return read(
        src,
        sql.SQL(
            "SELECT day, price_usd, circulating_supply FROM {} WHERE coin_id = %s ORDER BY day"
        ).format(table(src, "asset_history")),
        (coin,),
        needs="asset_history",
    )


def coin_snapshot(src: Sources, coin: str) -> dict[str, Any] | None:
    """The coin's row in the latest raw_assets snapshot that has it (supply, max supply, rank)."""
    frame = read(
        src,
        sql.SQL("SELECT * FROM {} WHERE coin_id = %s ORDER BY snapshot_date DESC LIMIT 1").format(
            table(src, "raw_assets")
        ),
        (coin,),
        needs="raw_assets",
    )
    return {str(k): v for k, v in frame.iloc[0].items()} if not frame.empty else None


def latest_markets(src: Sources, coin: str | None = None) -> pd.DataFrame:
    """Markets of the latest market_snapshots day, one coin's or all, by volume."""
    t = table(src, "market_snapshots")
    where = sql.SQL("snapshot_date = (SELECT max(snapshot_date) FROM {})").format(t)
    params: tuple[Any, ...] = ()
    if coin:
        where = sql.SQL("{} AND coin_id = %s").format(where)
        params = (coin,)
    return read(
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
    mongo = src.mongo()
    try:
        doc = mongo.collection(RAW_ASSETS).find_one(
            {RAW_ASSETS.coin_column: coin},
            {"_batch": 0},
            sort=[(RAW_ASSETS.partition_column, -1)],
        )
    except PyMongoError as exc:  # one line on the page, never a traceback
        raise mongo.explain(exc) from None
    finally:
        mongo.close()
    return dict(doc) if doc else None


# ---------------------------------------------------------------------------- pipeline health


def days_loaded(src: Sources) -> pd.DataFrame:
    """(asset, day, rows) for every loaded day of every dataset, in one round trip."""
    present = [
        (d.name, d.partition_column) for d in datasets.all_datasets() if d.name in tables(src)
    ]
    if not present:
        return pd.DataFrame(columns=["asset", "day", "rows"])
    union = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {n} AS asset, {c} AS day, count(*) AS rows FROM {t} GROUP BY {c}").format(
            n=sql.Literal(name), c=sql.Identifier(col), t=table(src, name)
        )
        for name, col in present
    )
    return read(src, sql.SQL("{} ORDER BY 1, 2").format(union))


def holes(src: Sources, days: int = 365) -> pd.DataFrame:
    """(coin, day) pairs missing from asset_history between each coin's first and last loaded
    day (within the last `days`): what `criptopipe fill-gaps` would fetch."""
    t = table(src, "asset_history")
    return read(
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
    present = [
        (d.name, d.partition_column) for d in datasets.all_datasets() if d.name in tables(src)
    ]
    if not present:
        return pd.DataFrame(columns=["asset", "last_fetched", "latest_day", "rows"])
    union = sql.SQL(" UNION ALL ").join(
        sql.SQL(
            "SELECT {n} AS asset, max(fetched_at) AS last_fetched, max({c}) AS latest_day, "
            "count(*) AS rows FROM {t}"
        ).format(n=sql.Literal(name), c=sql.Identifier(col), t=table(src, name))
        for name, col in present
    )
    return read(src, union)


def recent_runs(src: Sources, limit: int = 10) -> pd.DataFrame:
    """The last fetches in the credit ledger: which run, which window, what it cost."""
    return read(
        src,
        sql.SQL(
            "SELECT recorded_at, run_id, asset, partition_start, partition_end - 1 AS partition_last, "
            "requests, credits, succeeded, source FROM {} ORDER BY recorded_at DESC LIMIT %s"
        ).format(table(src, "credit_ledger")),
        (limit,),
        needs="credit_ledger",
    )


def credits_per_day(src: Sources, since: date) -> pd.DataFrame:
    """Credits and requests spent per UTC day, asset and CoinCap URL since `since` (from the
    ledger): each URL has its own budget, and a sandbox's credits count against none."""
    return read(
        src,
        sql.SQL(
            "SELECT (recorded_at AT TIME ZONE 'UTC')::date AS day, asset, source, "
            "sum(requests)::int AS requests, sum(credits)::int AS credits FROM {} "
            "WHERE recorded_at >= %s GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ).format(table(src, "credit_ledger")),
        (datetime(since.year, since.month, since.day, tzinfo=timezone.utc),),
        needs="credit_ledger",
    )


def latest_checks(src: Sources) -> pd.DataFrame:
    """Each check's latest verdict (failures first), from coincap.check_results."""
    return read(
        src,
        sql.SQL(
            "SELECT * FROM (SELECT DISTINCT ON (asset, check_name) asset, check_name, "
            "partition_key, passed, severity, description, evaluated_at FROM {} "
            "ORDER BY asset, check_name, evaluated_at DESC) latest "
            "ORDER BY passed, asset, check_name"
        ).format(table(src, "check_results")),
        needs="check_results",
    )


def run_failures(src: Sources, limit: int = 10) -> pd.DataFrame:
    """The most recent failed runs, from coincap.run_failures."""
    return read(
        src,
        sql.SQL(
            "SELECT failed_at, run_id, job_name, asset, partition_key, error FROM {} "
            "ORDER BY failed_at DESC LIMIT %s"
        ).format(table(src, "run_failures")),
        (limit,),
        needs="run_failures",
    )


def parity(src: Sources, latest: tuple[tuple[str, date], ...], days: int = 7) -> pd.DataFrame:
    """Natural keys in PostgreSQL vs MongoDB per dataset over the `days` up to its latest loaded
    day (`latest`: (dataset, day) pairs, from days_loaded, so the tables are not scanned again)."""
    if not src.mongo_uri or not src.pg_url or not latest:
        return pd.DataFrame()
    pg = src.store()  # keys() reads in read-only transactions
    mongo = src.mongo()
    rows = []
    try:
        for name, last in latest:
            ds = datasets.get(name)
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
