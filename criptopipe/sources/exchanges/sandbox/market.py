"""Synthetic daily candles of the imitated exchanges, consistent with the CoinCap sandbox.

A closed day's candle is a pure function of (seed, exchange, pair, day, skew): its VWAP sits within
`SPREAD` of the CoinCap sandbox's d1 price for that day (converted into the quote through the
universe's tether or bitcoin price), its close within a few percent of it, and its open is the
previous day's close. Volumes are a share of the coin's market cap, so quote volume / base volume
is the VWAP. The day still open (today, UTC) is built from yesterday's price and grows its volume
with the time of day, like a live candle. Nothing here is market data.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache

from criptopipe.sources.coincap.sandbox.universe import Universe
from criptopipe.sources.exchanges.sandbox.catalogue import (
    BINANCE,
    KRAKEN,
    Catalogue,
    Pair,
    build,
    unit,
)

#: largest distance of an exchange's VWAP from CoinCap's d1 average (before any skew)
SPREAD = {BINANCE: 0.002, KRAKEN: 0.003}
#: daily traded value as a fraction of the coin's market cap
VOLUME_SHARE = {BINANCE: 0.01, KRAKEN: 0.002}
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Bar:
    """One candle as numbers; the server formats it in each exchange's own way."""

    day: date
    open: float
    high: float
    low: float
    close: float
    vwap: float
    base_volume: float
    trades: int


def price_decimals(price: float) -> int:
    """Decimals of a tick that keeps about six significant digits (between 1 and 8)."""
    if price <= 0:
        return 8
    return min(8, max(1, 5 - math.floor(math.log10(price))))


def fmt(value: float, decimals: int, pad: int | None = None) -> str:
    """A price rounded to `decimals`, written with `pad` decimals (Binance pads to 8)."""
    text = format(Decimal(repr(round(value, decimals))).quantize(Decimal(1).scaleb(-decimals)), "f")
    if pad is not None and pad > decimals:
        text = format(Decimal(text).quantize(Decimal(1).scaleb(-pad)), "f")
    return text


class ExchangeMarket:
    """The imitated exchanges over one CoinCap-sandbox universe (same coins, same seed)."""

    def __init__(self, universe: Universe) -> None:
        self.universe = universe
        self._catalogues: dict[date, Catalogue] = {}

    def catalogue(self, today: date | None = None) -> Catalogue:
        today = today or datetime.now(timezone.utc).date()
        if today not in self._catalogues:
            self._catalogues = {today: build(self.universe, today)}
        return self._catalogues[today]

    def decimals(self, pair: Pair) -> int:
        """The pair's fixed tick, from its price on the anchor day of the universe."""
        coin = self.universe.by_id[pair.coin]
        price = coin.anchor_price * pair.scale
        if pair.quote_coin is not None:
            price /= self.universe.by_id[pair.quote_coin].anchor_price
        return price_decimals(price)

    # ------------------------------------------------------------------ prices

    def _usd(self, coin: str, day: date) -> float | None:
        return self.universe.price_on(coin, day)

    def mid(self, pair: Pair, day: date) -> float | None:
        """The pair's reference price on a closed day: CoinCap's d1 price in the quote."""
        usd = self._usd(pair.coin, day)
        if usd is None:
            return None
        usd *= pair.scale
        if pair.quote_coin is None:
            return usd
        quote = self._usd(pair.quote_coin, day)
        return usd / quote if quote else None

    def _key(self, pair: Pair) -> str:
        return f"{self.universe.seed}:{pair.exchange}:{pair.id}"

    def _draws(self, pair: Pair, day: date) -> tuple[float, ...]:
        """Six uniforms for one pair and day, from one hash: close, vwap, open, high, low, volume."""
        digest = hashlib.blake2b(f"{self._key(pair)}|{day}".encode(), digest_size=48).digest()
        return tuple(int.from_bytes(digest[i : i + 8], "big") / 2**64 for i in range(0, 48, 8))

    def _close(self, pair: Pair, day: date, mid: float | None, skew: float) -> float | None:
        if mid is None or not pair.trades_on(day):
            return None
        return mid * (1 + (self._draws(pair, day)[0] - 0.5) * 0.05) * skew

    @lru_cache(maxsize=262_144)  # noqa: B019 - one market per server, bounded; closed days never change
    def closed_bar(self, pair: Pair, day: date, skew_pct: float = 0.0) -> Bar | None:
        """The candle of a closed day, or None when the pair did not trade that day."""
        skew = 1 + skew_pct / 100
        mid = self.mid(pair, day)
        close = self._close(pair, day, mid, skew)
        if close is None or mid is None:
            return None
        u = self._draws(pair, day)
        vwap = mid * (1 + (u[1] - 0.5) * 2 * SPREAD[pair.exchange]) * skew
        prev = self._close(pair, day - DAY, self.mid(pair, day - DAY), skew)
        open_ = prev if prev is not None else vwap * (1 + (u[2] - 0.5) * 0.01)
        return self._bar(pair, day, open_, close, vwap, mid, 1.0)

    def open_bar(self, pair: Pair, today: date, now: datetime, skew_pct: float = 0.0) -> Bar | None:
        """Today's unfinished candle: yesterday's price moved a little, volume so far."""
        if not pair.trades_on(today):
            return None
        skew = 1 + skew_pct / 100
        base = self.mid(pair, today - DAY)
        if base is None:
            return None
        live = unit(self._key(pair), today, "live", now.hour)
        close = base * (1 + (live - 0.5) * 0.03) * skew
        prev = self._close(pair, today - DAY, base, skew)
        open_ = prev if prev is not None else base * skew
        vwap = (open_ + close) / 2
        elapsed = (now - datetime.combine(today, datetime.min.time(), timezone.utc)).total_seconds()
        return self._bar(pair, today, open_, close, vwap, base, max(elapsed / 86_400, 0.01))

    def _bar(
        self,
        pair: Pair,
        day: date,
        open_: float,
        close: float,
        vwap: float,
        mid: float,
        share: float,
    ) -> Bar:
        u = self._draws(pair, day)
        high = max(open_, close, vwap) * (1 + u[3] * 0.02)
        low = min(open_, close, vwap) * (1 - u[4] * 0.02)
        coin = self.universe.by_id[pair.coin]
        # traded value in the quote: a share of the market cap, valued at the reference price
        supply = self.universe.supply_on(coin, day)
        base_volume = supply * VOLUME_SHARE[pair.exchange] * (0.5 + u[5]) * share / pair.scale
        value_usd = base_volume * (self.universe.price_on(pair.coin, day - DAY) or 0.0)
        trades = max(1, min(int(value_usd * pair.scale / 2_000), 9_000_000))
        return Bar(day, open_, high, low, close, vwap, base_volume, trades)

    def bars(
        self, pair: Pair, first: date, end: date, now: datetime, skew_pct: float = 0.0
    ) -> list[Bar]:
        """Candles for the days in [first, end) that exist, today's unfinished one included."""
        today = now.date()
        out: list[Bar] = []
        day = max(first, pair.listed)
        stop = min(end, today + DAY)
        while day < stop:
            bar = (
                self.open_bar(pair, today, now, skew_pct)
                if day == today
                else self.closed_bar(pair, day, skew_pct)
            )
            if bar is not None:
                out.append(bar)
            day += DAY
        return out
