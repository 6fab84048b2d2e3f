"""The dashboard's reads of the exchanges' and the derived datasets, and of the exchange requests
in the credit ledger: no Streamlit, no Dagster. Tables not created yet read as empty."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
from psycopg import sql

from criptopipe import datasets
from criptopipe.dashboard.sources import Sources, read, table
from criptopipe.datasets import DAILY_PRICES, EXCHANGE_CANDLES


def _coin_rows(src: Sources, name: str, columns: str, coin: str, days: int | None) -> pd.DataFrame:
    """`columns` of one coin's rows of dataset `name`, by key, over the last `days` days it
    holds for the coin (None: all of them)."""
    t = table(src, name)
    where: sql.Composable = sql.SQL("coin_id = %s")
    params: tuple[object, ...] = (coin,)
    if days is not None:
        where = sql.SQL(
            "coin_id = %s AND day > (SELECT max(day) FROM {} WHERE coin_id = %s) - %s"
        ).format(t)
        params = (coin, coin, days)
    order = sql.SQL(", ").join(sql.Identifier(k) for k in datasets.get(name).key)
    query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {}").format(
        sql.SQL(columns), t, where, order
    )
    return read(src, query, params, needs=name)


def coin_candles(src: Sources, coin: str, days: int | None) -> pd.DataFrame:
    """One coin's daily candles on every exchange, by pair and day."""
    return _coin_rows(
        src,
        EXCHANGE_CANDLES.name,
        "exchange, symbol, quote, day, open, high, low, close, base_volume, quote_volume",
        coin,
        days,
    )


def coin_prices(src: Sources, coin: str, days: int | None) -> pd.DataFrame:
    """One coin's daily_prices rows: CoinCap's d1, the median, the spread and its outlier."""
    return _coin_rows(
        src,
        DAILY_PRICES.name,
        "day, coincap_usd, median_usd, spread_pct, sources, outlier, outlier_pct, prices",
        coin,
        days,
    )


def exchange_requests(src: Sources, days: int = 30) -> pd.DataFrame:
    """Requests each exchange got per UTC day over the last `days` days (the credit ledger's
    rows of the exchanges' datasets: no credits, the exchange's URL as source)."""
    names = [d.name for d in datasets.all_datasets() if d.source == "exchanges"]
    since = datetime.now(timezone.utc) - timedelta(days=days)
    return read(
        src,
        sql.SQL(
            "SELECT (recorded_at AT TIME ZONE 'UTC')::date AS day, source, count(*) AS fetches, "
            "sum(requests)::int AS requests, sum(bytes)::bigint AS bytes, "
            "count(*) FILTER (WHERE NOT succeeded)::int AS failed FROM {} "
            "WHERE asset = ANY(%s) AND recorded_at >= %s GROUP BY 1, 2 ORDER BY 1 DESC, 2"
        ).format(table(src, "credit_ledger")),
        (names, since),
        needs="credit_ledger",
    )
