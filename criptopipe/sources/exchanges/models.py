"""Pydantic models at the exchanges source's boundary.

A candle keeps the row exactly as the exchange sent it (`raw`: Binance's 12 elements, Kraken's 8,
strings and integers as in the JSON) next to exact `Decimal`s parsed from those strings, never
through a float. Days the exchange did not give are never silently absent: a fetch lists them as
`DayGap`s with a reason.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TrackedCoin(BaseModel):
    """A CoinCap coin to find on the exchanges: its id and CoinCap `symbol`."""

    model_config = ConfigDict(frozen=True)

    id: str
    symbol: str


class Candle(BaseModel):
    """One closed UTC day of one spot pair on one exchange."""

    model_config = ConfigDict(frozen=True)

    exchange: str
    #: unified CCXT symbol, e.g. "BTC/USDT"
    symbol: str
    #: the exchange's own market id, e.g. "BTCUSDT", "XXBTZUSD"
    market_id: str
    day: date
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    #: traded amount in the base currency
    base_volume: Decimal
    #: traded value in the quote currency (Binance sends it; Kraken: its vwap x volume)
    quote_volume: Decimal | None
    trades: int | None
    #: the row exactly as the exchange sent it
    raw: list[Any]
    #: the request URL it came from (public endpoints: no secret in it)
    source_url: str

    @property
    def vwap(self) -> Decimal | None:
        """Volume-weighted average price: quote volume / base volume (None without trades)."""
        if self.quote_volume is None or not self.base_volume:
            return None
        return self.quote_volume / self.base_volume


class GapReason(StrEnum):
    NOT_LISTED_YET = "not_listed_yet"
    DELISTED = "delisted"
    #: older than the exchange serves at all (Kraken: its 720 most recent daily candles)
    BEYOND_HORIZON = "beyond_horizon"
    MISSING = "missing"
    #: today (still open) or later
    NOT_CLOSED = "not_closed"


class DayGap(BaseModel):
    """Consecutive days of a requested window without a candle, and why."""

    model_config = ConfigDict(frozen=True)

    first: date
    #: included
    last: date
    reason: GapReason
    detail: str

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


class CandleFetch(BaseModel):
    """What one pair yielded for the window [first_day, end_day): candles and reported gaps."""

    model_config = ConfigDict(frozen=True)

    exchange: str
    symbol: str
    market_id: str
    first_day: date
    #: excluded
    end_day: date
    candles: list[Candle]
    gaps: list[DayGap]
    #: HTTP requests this fetch made (retries included)
    requests: int
    #: the unfinished day's rows the exchange sent and the client dropped
    dropped_open: int = 0

    def describe_gaps(self) -> list[str]:
        """One readable line per gap, for run metadata."""
        return [
            f"{self.exchange} {self.symbol} {g.first}..{g.last} ({g.days} d): {g.detail}"
            for g in self.gaps
        ]


class SymbolMatch(BaseModel):
    """A tracked coin found on an exchange."""

    model_config = ConfigDict(frozen=True)

    coin_id: str
    coin_symbol: str
    exchange: str
    symbol: str
    market_id: str
    base: str
    quote: str
    #: the exchange's own code for the base when CCXT renamed it (Kraken "XDG" -> DOGE)
    renamed_from: str | None = None
    #: False: the market is listed but not trading (Binance BREAK: history only)
    active: bool = True
    pinned: bool = False


class ProblemKind(StrEnum):
    MISSING = "missing"
    COLLISION = "collision"
    BAD_PIN = "bad_pin"


class SymbolProblem(BaseModel):
    """A tracked coin that was not mapped, and why; never resolved by guessing."""

    model_config = ConfigDict(frozen=True)

    coin_id: str
    coin_symbol: str
    exchange: str
    kind: ProblemKind
    message: str


class SymbolMap(BaseModel):
    """One exchange's mapping of the tracked coins."""

    model_config = ConfigDict(frozen=True)

    exchange: str
    quote_preference: tuple[str, ...]
    matches: list[SymbolMatch] = Field(default_factory=list)
    problems: list[SymbolProblem] = Field(default_factory=list)

    def symbol_for(self, coin_id: str) -> str | None:
        return next((m.symbol for m in self.matches if m.coin_id == coin_id), None)
