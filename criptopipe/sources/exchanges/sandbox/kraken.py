"""Kraken's public endpoints as the sandbox answers them: `Assets`, `AssetPairs`, `OHLC`, `Time`.

Shapes follow ../shared/docs/exchanges-ccxt.md: the `{"error":[],"result":...}` envelope with
errors inside HTTP 200, X/Z legacy pair keys, OHLC keyed by the pair key with only the 720 most
recent entries (the uncommitted one included) whatever `since` says, and `last`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from criptopipe.sources.exchanges.sandbox.catalogue import KRAKEN, Pair
from criptopipe.sources.exchanges.sandbox.clock import day_s
from criptopipe.sources.exchanges.sandbox.market import Bar, ExchangeMarket, fmt
from criptopipe.sources.exchanges.sandbox.state import Reply

KRAKEN_HORIZON = 720
FEES = [[0, 0.4], [10000, 0.35], [50000, 0.24], [100000, 0.22], [250000, 0.2]]
MAKER_FEES = [[0, 0.25], [10000, 0.2], [50000, 0.14], [100000, 0.12]]


def answer(market: ExchangeMarket, sub: str, q: dict[str, str], now: datetime, skew: float) -> Any:
    """The `result` of a Kraken GET (`sub`: the path below /kraken), or a `Reply` raised."""
    cat = market.catalogue(now.date())
    if sub == "/0/public/Time":
        return {
            "unixtime": int(now.timestamp()),
            "rfc1123": now.strftime("%a, %d %b %y %H:%M:%S +0000"),
        }
    if sub == "/0/public/Assets":
        wanted = set(q["asset"].split(",")) if q.get("asset") else None
        out = {}
        for a in cat.kraken_assets.values():
            if wanted is None or a.key in wanted or a.altname in wanted:
                out[a.key] = {
                    "aclass": "currency",
                    "altname": a.altname,
                    "decimals": a.decimals,
                    "display_decimals": a.display_decimals,
                    "collateral_value": 1 if a.key in {"XXBT", "ZUSD"} else 0.9,
                    "status": "enabled",
                }
        if wanted and not out:
            raise Reply(200, {"error": ["EQuery:Unknown asset"]})
        return out
    if sub == "/0/public/AssetPairs":
        wanted = set(q["pair"].split(",")) if q.get("pair") else None
        pairs = {}
        for p in cat.pairs[KRAKEN]:
            if p.listed > now.date():
                continue
            if wanted is None or p.id in wanted or p.altname in wanted:
                pairs[p.id] = _pair(market, p)
        if wanted and not pairs:
            raise Reply(200, {"error": ["EQuery:Unknown asset pair"]})
        return pairs
    if sub == "/0/public/OHLC":
        return _ohlc(market, q, now, skew)
    raise Reply(404, {"error": ["EGeneral:Unknown method"]})


def _pair(market: ExchangeMarket, p: Pair) -> dict[str, Any]:
    dec = market.decimals(p)
    margin = p.base in {"XXBT", "XETH"}
    return {
        "altname": p.altname,
        "wsname": p.wsname,
        "aclass_base": "currency",
        "base": p.base,
        "aclass_quote": "currency",
        "quote": p.quote,
        "lot": "unit",
        "cost_decimals": 5,
        "pair_decimals": dec,
        "lot_decimals": 8,
        "lot_multiplier": 1,
        "leverage_buy": [2, 3] if margin else [],
        "leverage_sell": [2, 3] if margin else [],
        "fees": FEES,
        "fees_maker": MAKER_FEES,
        "fee_volume_currency": "ZUSD",
        "margin_call": 80,
        "margin_stop": 40,
        "ordermin": "0.0001",
        "costmin": "0.5",
        "tick_size": fmt(10.0**-dec, dec),
        "status": "online",
    }


def _ohlc(market: ExchangeMarket, q: dict[str, str], now: datetime, skew: float) -> dict[str, Any]:
    if not q.get("pair"):
        raise Reply(200, {"error": ["EGeneral:Invalid arguments"]})
    if q.get("interval", "1") != "1440":
        # the imitation serves daily candles only
        raise Reply(200, {"error": ["EGeneral:Invalid arguments:interval"]})
    pair = market.catalogue(now.date()).pair(KRAKEN, q["pair"])
    if pair is None or pair.listed > now.date():
        raise Reply(200, {"error": ["EQuery:Unknown asset pair"]})
    try:
        since = int(q.get("since") or 0)
    except ValueError:
        raise Reply(200, {"error": ["EGeneral:Invalid arguments:since"]}) from None
    today = now.date()
    # only the 720 most recent entries exist, the uncommitted one (today) included
    horizon = today - timedelta(days=KRAKEN_HORIZON - 1)
    bars = market.bars(pair, horizon, today + timedelta(days=1), now, skew)
    dec = market.decimals(pair)
    # `since` is exclusive; the uncommitted row is always there
    rows = [_row(b, dec) for b in bars if day_s(b.day) > since or b.day == today]
    return {pair.id: rows, "last": day_s(today - timedelta(days=1))}


def _row(b: Bar, dec: int) -> list[Any]:
    return [
        day_s(b.day),
        fmt(b.open, dec),
        fmt(b.high, dec),
        fmt(b.low, dec),
        fmt(b.close, dec),
        fmt(b.vwap, dec),
        fmt(b.base_volume, 8),
        b.trades,
    ]
