"""Rows of `exchange_candles`: from the exchanges client's candles, and again from the archive.

A row is one closed UTC day of one spot pair on one exchange, with the CoinCap coin it was mapped
to and the quote currency it is priced in (Binance quotes USDT, Kraken USD: never assumed). The
archive keeps the candle exactly as the exchange sent it (`record`: Binance's 12-element row,
Kraken's 8) plus the mapping (`document_columns`), so a replay rebuilds the same exact numbers
from the raw row through each venue's layout, with no CCXT and no request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from criptopipe.sources.exchanges.models import Candle, SymbolMatch
from criptopipe.sources.exchanges.venues import VENUES
from criptopipe.storage.slices import as_date
from criptopipe.transform.frames import as_utc

Row = dict[str, Any]


def pair_id(exchange: str, symbol: str) -> str:
    """The unit a candle fetch and a write slice narrow by: `binance:BTC/USDT`."""
    return f"{exchange}:{symbol}"


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def candle_row(match: SymbolMatch, c: Candle, fetched_at: datetime) -> Row:
    return {
        "pair": pair_id(c.exchange, c.symbol),
        "day": c.day,
        "exchange": c.exchange,
        "symbol": c.symbol,
        "market_id": c.market_id,
        "coin_id": match.coin_id,
        "base": match.base,
        "quote": match.quote,
        "open": c.open,
        "high": c.high,
        "low": c.low,
        "close": c.close,
        "base_volume": c.base_volume,
        "quote_volume": c.quote_volume,
        "trades": c.trades,
        "fetched_at": fetched_at,
        "record": list(c.raw),
        "request_path": _path(c.source_url),
    }


def candle_rows(
    pairs: Iterable[tuple[SymbolMatch, Iterable[Candle]]], fetched_at: datetime
) -> list[Row]:
    return [candle_row(match, c, fetched_at) for match, candles in pairs for c in candles]


def candle_rows_from_documents(docs: Iterable[Mapping[str, Any]]) -> list[Row]:
    """Archived candles -> the rows the live load wrote, through each venue's raw layout."""
    out = []
    for d in docs:
        venue = VENUES[d["exchange"]]
        raw = list(d["record"])
        o, h, low, c, v = (Decimal(str(raw[i])) for i in venue.raw_ohlcv)
        quote_volume, trades = venue.extras(raw)
        out.append(
            {
                "pair": d["pair"],
                "day": as_date(d["day"]),
                "exchange": d["exchange"],
                "symbol": d["symbol"],
                "market_id": d["market_id"],
                "coin_id": d["coin_id"],
                "base": d["base"],
                "quote": d["quote"],
                "open": o,
                "high": h,
                "low": low,
                "close": c,
                "base_volume": v,
                "quote_volume": quote_volume,
                "trades": trades,
                "fetched_at": as_utc(d["fetched_at"]),
                "record": raw,
                "request_path": d["request_path"],
            }
        )
    return out
