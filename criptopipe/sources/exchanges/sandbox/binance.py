"""Binance's public spot endpoints as the sandbox answers them: `exchangeInfo`, `klines`, `time`.

Shapes follow ../shared/docs/exchanges-ccxt.md: numbers as strings (prices padded to 8 decimals),
12-element klines between `startTime` and `endTime` with `limit` (default 500, max 1000),
delisted pairs kept with status BREAK, and `{"code","msg"}` errors with 4xx.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from criptopipe.sources.exchanges.sandbox.catalogue import BINANCE, Pair
from criptopipe.sources.exchanges.sandbox.clock import DAY_MS, day_ms, ms_day
from criptopipe.sources.exchanges.sandbox.faults import HTML_502
from criptopipe.sources.exchanges.sandbox.market import Bar, ExchangeMarket, fmt
from criptopipe.sources.exchanges.sandbox.state import BINANCE_WEIGHT_LIMIT, Reply

BINANCE_MAX_LIMIT, BINANCE_DEFAULT_LIMIT = 1000, 500
#: Binance request weights (spot, since 2023-08-25)
BINANCE_WEIGHTS = {"exchangeInfo": 20, "klines": 2, "time": 1}


def answer(market: ExchangeMarket, sub: str, q: dict[str, str], now: datetime, skew: float) -> Any:
    """The body of a Binance GET (`sub`: the path below /binance), or a `Reply` raised."""
    if sub == "/api/v3/time":
        return {"serverTime": int(now.timestamp() * 1000)}
    if sub == "/api/v3/exchangeInfo":
        pairs = market.catalogue(now.date()).pairs[BINANCE]
        wanted = _symbols_param(q)
        if wanted is not None:
            pairs = [p for p in pairs if p.id in wanted]
            if len(pairs) != len(wanted):
                raise Reply(400, {"code": -1121, "msg": "Invalid symbol."})
        return {
            "timezone": "UTC",
            "serverTime": int(now.timestamp() * 1000),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": BINANCE_WEIGHT_LIMIT,
                },
                {
                    "rateLimitType": "RAW_REQUESTS",
                    "interval": "MINUTE",
                    "intervalNum": 5,
                    "limit": 61000,
                },
            ],
            "exchangeFilters": [],
            "symbols": [_symbol(market, p, now.date()) for p in pairs],
        }
    if sub == "/api/v3/klines":
        return _klines(market, q, now, skew)
    raise Reply(404, HTML_502.replace(b"502 Bad Gateway", b"404 Not Found"))


def _symbol(market: ExchangeMarket, pair: Pair, today: date) -> dict[str, Any]:
    dec = market.decimals(pair)
    trading = pair.delisted is None or pair.delisted > today
    return {
        "symbol": pair.id,
        "status": "TRADING" if trading and pair.listed <= today else "BREAK",
        "baseAsset": pair.base,
        "baseAssetPrecision": 8,
        "quoteAsset": pair.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": [
            "LIMIT",
            "LIMIT_MAKER",
            "MARKET",
            "STOP_LOSS_LIMIT",
            "TAKE_PROFIT_LIMIT",
        ],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": pair.quote == "USDT",
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": fmt(10.0**-dec, dec, 8),
                "maxPrice": "1000000.00000000",
                "tickSize": fmt(10.0**-dec, dec, 8),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": "0.00001000",
                "maxQty": "9000.00000000",
                "stepSize": "0.00001000",
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": "5.00000000",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def _klines(
    market: ExchangeMarket, q: dict[str, str], now: datetime, skew: float
) -> list[list[Any]]:
    if not q.get("symbol"):
        raise Reply(
            400,
            {
                "code": -1102,
                "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            },
        )
    if q.get("interval") != "1d":
        # the imitation serves daily candles only
        raise Reply(400, {"code": -1120, "msg": "Invalid interval."})
    pair = market.catalogue(now.date()).pair(BINANCE, q["symbol"])
    if pair is None:
        raise Reply(400, {"code": -1121, "msg": "Invalid symbol."})
    try:
        limit = int(q.get("limit", BINANCE_DEFAULT_LIMIT))
        start = int(q["startTime"]) if "startTime" in q else None
        end = int(q["endTime"]) if "endTime" in q else None
    except ValueError:
        raise Reply(
            400, {"code": -1100, "msg": "Illegal characters found in a parameter."}
        ) from None
    if not 1 <= limit <= BINANCE_MAX_LIMIT:
        raise Reply(400, {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."})
    now_ms = int(now.timestamp() * 1000)
    first = ms_day(-(-start // DAY_MS) * DAY_MS) if start is not None else pair.listed
    last_ms = min(end if end is not None else now_ms, now_ms)
    stop = ms_day(last_ms) + timedelta(days=1)  # days opening at or before last_ms
    bars = market.bars(pair, first, stop, now, skew)
    bars = bars[:limit] if start is not None else bars[-limit:]
    dec = market.decimals(pair)
    return [_row(b, dec) for b in bars]


def _symbols_param(q: dict[str, str]) -> set[str] | None:
    if q.get("symbol"):
        return {q["symbol"]}
    if q.get("symbols"):
        try:
            return set(json.loads(q["symbols"]))
        except ValueError:
            raise Reply(
                400, {"code": -1100, "msg": "Illegal characters found in parameter 'symbols'."}
            ) from None
    return None


def _row(b: Bar, dec: int) -> list[Any]:
    volume = fmt(b.base_volume, 8)
    vwap = Decimal(fmt(b.vwap, min(dec + 2, 12)))
    quote = (Decimal(volume) * vwap).quantize(Decimal("0.00000001"))
    taker = Decimal(fmt(b.base_volume * 0.48, 8))
    taker_quote = (taker * vwap).quantize(Decimal("0.00000001"))
    opened = day_ms(b.day)
    return [
        opened,
        fmt(b.open, dec, 8),
        fmt(b.high, dec, 8),
        fmt(b.low, dec, 8),
        fmt(b.close, dec, 8),
        volume,
        opened + DAY_MS - 1,
        format(quote, "f"),
        b.trades,
        format(taker, "f"),
        format(taker_quote, "f"),
        "0",
    ]
