"""What differs between exchanges, in one table: paging limits, horizons, URLs, raw row layouts.

Each entry is a verified fact about CCXT 4.5.90 and the exchange (../shared/docs/exchanges-ccxt.md):
Binance serves up to 1000 daily candles per `klines` request between `startTime` and `endTime`
(CCXT sends `endTime` only from `params={'until': ms}`) and loads spot markets with one
`exchangeInfo` call once told `fetchMarkets.types = ['spot']`; Kraken's `OHLC` ignores any limit
and answers the 720 most recent candles whatever `since` says, and its market load is `Assets`
then `AssetPairs`. Supporting another CCXT exchange means adding one entry here.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, localcontext
from typing import Any

from criptopipe.sources.exchanges.errors import UnknownExchangeError

DAY = timedelta(days=1)
#: where stray calls go when a URL is overridden: a closed local port fails fast
CLOSED_URL = "http://127.0.0.1:9/closed"


def _binance_extras(raw: list[Any]) -> tuple[Decimal | None, int | None]:
    """Binance kline: [open ms, o, h, l, c, base vol, close ms, quote vol, trades, ...]."""
    return Decimal(str(raw[7])), int(raw[8])


def _kraken_extras(raw: list[Any]) -> tuple[Decimal | None, int | None]:
    """Kraken OHLC: [time s, o, h, l, c, vwap, volume, count]; quote volume = vwap x volume
    (exact: the product of two decimal strings, computed with enough digits)."""
    vwap, volume = Decimal(str(raw[5])), Decimal(str(raw[6]))
    with localcontext() as ctx:
        ctx.prec = 60
        return vwap * volume, int(raw[7])


@dataclass(frozen=True)
class Venue:
    id: str
    name: str
    #: most daily candles one request returns
    max_candles: int
    #: only this many most recent candles exist at all (None: the whole history)
    horizon_candles: int | None
    #: True: a request covers [since, until] exactly (Binance startTime/endTime); False: a
    #: request returns everything from `since` up to the horizon and the present (Kraken)
    pages_with_until: bool
    #: HTTP requests one `load_markets()` makes with `options`
    market_load_requests: int
    #: urls['api'] keys of the public calls -> path under an override root
    public_urls: Mapping[str, str]
    options: Mapping[str, Any] = field(default_factory=dict)
    #: response header carrying the used weight of the current minute, and the weight of a
    #: market load and of a candle request (Binance spot since 2023-08-25: 6000 a minute per IP)
    weight_header: str | None = None
    market_load_weight: int = 0
    page_weight: int = 0
    #: the weight the exchange allows per minute and IP (0: it weighs nothing)
    weight_limit_1m: int = 0
    #: CCXT's rateLimit (ms per unit of cost) and the cost of one candle request: CCXT spaces
    #: candle requests rateLimit x cost apart (docs/exchanges-ccxt.md section 4)
    default_rate_limit_ms: float = 1000.0
    page_cost: float = 1.0
    #: shortest raw OHLCV row the exchange sends
    raw_row_length: int = 6
    #: positions of open, high, low, close and base volume in the raw row (what CCXT parses),
    #: so an archived row rebuilds the candle without CCXT
    raw_ohlcv: tuple[int, int, int, int, int] = (1, 2, 3, 4, 5)
    extras: Callable[[list[Any]], tuple[Decimal | None, int | None]] = lambda raw: (None, None)
    #: key of the market's `info` holding the exchange's own code for the base asset
    raw_base_key: str = "base"

    def page_count(self, days: int) -> int:
        """Requests one pair needs for `days` days that can still be fetched."""
        if days <= 0:
            return 0
        if not self.pages_with_until:
            return 1
        return math.ceil(days / self.max_candles)

    def pages(self, first: date, end: date) -> list[tuple[date, date]]:
        """The [start, stop) day ranges of the requests that cover [first, end)."""
        if end <= first:
            return []
        if not self.pages_with_until:
            return [(first, end)]
        out, start = [], first
        while start < end:
            stop = min(start + self.max_candles * DAY, end)
            out.append((start, stop))
            start = stop
        return out


VENUES: dict[str, Venue] = {
    "binance": Venue(
        id="binance",
        name="Binance",
        max_candles=1000,
        horizon_candles=None,
        pages_with_until=True,
        market_load_requests=1,
        public_urls={"public": "/api/v3"},
        options={"fetchMarkets": {"types": ["spot"]}},
        weight_header="X-MBX-USED-WEIGHT-1M",
        market_load_weight=20,
        page_weight=2,
        weight_limit_1m=6000,
        default_rate_limit_ms=50,
        page_cost=0.4,
        raw_row_length=11,
        extras=_binance_extras,
        raw_base_key="baseAsset",
    ),
    "kraken": Venue(
        id="kraken",
        name="Kraken",
        max_candles=720,
        horizon_candles=720,
        pages_with_until=False,
        market_load_requests=2,
        public_urls={"public": ""},
        default_rate_limit_ms=1000,
        page_cost=1.2,
        raw_row_length=8,
        raw_ohlcv=(1, 2, 3, 4, 6),
        extras=_kraken_extras,
        raw_base_key="base",
    ),
}


def venue(exchange_id: str) -> Venue:
    """The venue rules for a CCXT exchange id, or an error naming what would work."""
    if exchange_id in VENUES:
        return VENUES[exchange_id]
    import ccxt  # only on this error path: CCXT takes seconds to import

    known: list[str] = list(ccxt.exchanges)
    if exchange_id not in known:
        close = difflib.get_close_matches(exchange_id, known, n=5, cutoff=0.6)
        raise UnknownExchangeError(exchange_id, close, sorted(VENUES))
    raise UnknownExchangeError(exchange_id, [], sorted(VENUES), known_to_ccxt=True)


def closed_days(first: date, end: date, today: date) -> int:
    """Days of [first, end) that have closed by `today` (UTC): the days worth a request."""
    return max((min(end, today) - first).days, 0)


def minimum_requests(exchange_id: str, pairs: int, first: date, end: date, today: date) -> int:
    """The physical minimum of HTTP requests for the closed days of [first, end) of `pairs` pairs,
    plus the market load: pairs x ceil(closed days / max candles per request). Kraken needs one
    request per pair whatever the window: older days are beyond its horizon."""
    v = venue(exchange_id)
    return v.market_load_requests + pairs * v.page_count(closed_days(first, end, today))


def minimum_weight(exchange_id: str, pairs: int, first: date, end: date, today: date) -> int:
    """The request weight the physical minimum costs (Binance; 0 where weights do not apply)."""
    v = venue(exchange_id)
    return (
        v.market_load_weight + pairs * v.page_count(closed_days(first, end, today)) * v.page_weight
    )
