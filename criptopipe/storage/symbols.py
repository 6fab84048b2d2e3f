"""CoinCap's symbol of each tracked coin, read from the warehouse's `raw_assets` snapshots.

The exchanges source maps coins to markets by CoinCap's `symbol` (BTC, ETH, ...). Reading it
from the snapshots already loaded costs no CoinCap credit and no call, and is the same symbol
the dashboard shows; a coin the snapshots never held has no symbol here and is reported by the
caller, never guessed. Explicit coins take each coin's newest snapshot row; a top-N universe
takes the N best ranked coins of the newest snapshot (what `raw_assets` stored for it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from psycopg import sql

from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.tables import Table


def latest_symbols(
    store: PostgresStore, snapshots: Table, coins: Sequence[str], top_n: int | None = None
) -> dict[str, tuple[str, date]]:
    """coin id -> (CoinCap symbol, the snapshot day it comes from), for `coins`, or for the top
    `top_n` of the newest snapshot when `coins` is empty. Nothing when the table is missing."""
    day, coin = sql.Identifier(snapshots.partition_column), sql.Identifier(snapshots.coin_column)
    table = store.table(snapshots)
    if coins:
        query = sql.SQL(
            "SELECT DISTINCT ON ({coin}) {coin}, symbol, {day} FROM {t} "
            "WHERE {coin} = ANY(%s) AND symbol IS NOT NULL ORDER BY {coin}, {day} DESC"
        ).format(coin=coin, day=day, t=table)
        params: tuple[object, ...] = (list(coins),)
    else:
        query = sql.SQL(
            "SELECT {coin}, symbol, {day} FROM {t} WHERE {day} = (SELECT max({day}) FROM {t}) "
            "AND symbol IS NOT NULL ORDER BY rank NULLS LAST, {coin} LIMIT %s"
        ).format(coin=coin, day=day, t=table)
        params = (top_n,)
    with store.connect(read_only=True) as conn:
        if not store.table_exists(conn, snapshots.name):
            return {}
        rows = conn.execute(query, params).fetchall()
    return {str(c): (str(s), d) for c, s, d in rows}
