"""A thin async layer over `ccxt.async_support`: one instance per exchange per run, daily candles.

What it adds to CCXT, and nothing else:
- one CCXT instance per exchange (its rate limiter is per instance), spot markets loaded once,
  exact numbers (`number = str` once markets are loaded: nothing goes through a float);
- URL overrides for a stand-in (the sandbox): the public API keys point below the given root and
  every other `urls['api']` key at a closed local port, so a stray call fails fast offline;
- `fetch_daily_candles`: explicit paging at the exchange's maximum (`paging.py`), every missing
  day reported with a reason;
- our bounded retry (CCXT retries nothing, `retry.py`) and a request meter, fed by hooks on
  CCXT's own exchange class (`hooks.py`).
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime, timezone
from typing import Any

from criptopipe.sources.exchanges import paging
from criptopipe.sources.exchanges.errors import UnknownSymbolError
from criptopipe.sources.exchanges.hooks import exchange_class, point_all
from criptopipe.sources.exchanges.meter import RequestMeter
from criptopipe.sources.exchanges.models import CandleFetch, SymbolMap, TrackedCoin
from criptopipe.sources.exchanges.retry import RetryPolicy, with_retries
from criptopipe.sources.exchanges.settings import ExchangeSettings
from criptopipe.sources.exchanges.symbols import map_symbols
from criptopipe.sources.exchanges.venues import CLOSED_URL, Venue, closed_days, venue


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class ExchangeClient:
    """One exchange for one run. `async with ExchangeClient("binance", settings) as client:`."""

    def __init__(
        self,
        exchange_id: str,
        settings: ExchangeSettings,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.id = exchange_id
        self.venue: Venue = venue(exchange_id)
        self.settings = settings
        self.clock = clock
        self.meter = RequestMeter(exchange_id, self.venue.weight_header)
        self.policy = RetryPolicy(
            max_attempts=settings.max_attempts,
            max_retry_seconds=settings.max_retry_seconds,
            backoff_base_s=settings.backoff_base_s,
            backoff_max_s=settings.backoff_max_s,
        )
        config: dict[str, Any] = {
            "enableRateLimit": True,
            "timeout": settings.timeout_ms,
            "options": dict(self.venue.options),
        }
        if exchange_id in settings.rate_limit_ms:
            config["rateLimit"] = settings.rate_limit_ms[exchange_id]
        self.ccxt: Any = exchange_class(exchange_id)(config)
        self.ccxt.criptopipe_meter = self.meter
        root = settings.url_overrides.get(exchange_id)
        if root is not None:
            api = self.ccxt.urls["api"]
            point_all(api, CLOSED_URL)
            for key, suffix in self.venue.public_urls.items():
                api[key] = root + suffix
        self._markets: dict[str, Any] | None = None
        self._markets_lock = asyncio.Lock()
        #: candle requests in flight at most (CCXT's limiter spaces their start)
        self.in_flight = asyncio.Semaphore(settings.max_in_flight)

    def __repr__(self) -> str:
        return f"ExchangeClient({self.id!r}, public={self.public_url!r})"

    @property
    def public_url(self) -> str:
        """The root of the public API calls (no secret in it): the ledger's `source`."""
        return str(self.ccxt.urls["api"].get("public"))

    async def __aenter__(self) -> ExchangeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.ccxt.close()

    # ------------------------------------------------------------------ markets

    async def load_markets(self) -> Mapping[str, Any]:
        """The exchange's markets, loaded once (spot only on Binance), retried if transient."""
        async with self._markets_lock:
            if self._markets is None:
                await with_retries(
                    lambda: self.ccxt.load_markets(),
                    exchange_id=self.id,
                    what="the market load",
                    policy=self.policy,
                    meter=self.meter,
                )
                # exact strings from here on; set after the load, because a non-float `number`
                # in the constructor breaks Kraken's market parsing in CCXT 4.5.90
                self.ccxt.number = str
                self._markets = dict(self.ccxt.markets)
        return self._markets

    @property
    def markets(self) -> Mapping[str, Any]:
        if self._markets is None:
            raise RuntimeError(f"{self.id}: call `await load_markets()` first")
        return self._markets

    def map_coins(self, coins: Iterable[TrackedCoin]) -> SymbolMap:
        """Map tracked coins onto this exchange's loaded spot markets (see symbols.py)."""
        return map_symbols(
            self.id,
            self.markets,
            coins,
            self.settings.quote_preference,
            currencies=self.ccxt.currencies or {},
            raw_base_key=self.venue.raw_base_key,
            pins=self.settings.pins.get(self.id),
        )

    def market(self, symbol: str) -> Mapping[str, Any]:
        """The loaded spot market of a unified symbol, or an error naming close ones."""
        market = self.markets.get(symbol)
        if market is None or not market.get("spot"):
            spot = [s for s, m in self.markets.items() if m.get("spot")]
            close = difflib.get_close_matches(symbol, spot, n=5, cutoff=0.6)
            raise UnknownSymbolError(self.id, symbol, close)
        return market

    # ------------------------------------------------------------------ candles

    async def fetch_daily_candles(self, symbol: str, first_day: date, end_day: date) -> CandleFetch:
        """Closed daily candles of `symbol` for the days in [first_day, end_day), and why any
        day of it has none. Requests: ceil(closed days / max per request), none if no day of the
        window has closed; retries on top only when something transient failed."""
        return await paging.fetch_daily_candles(self, symbol, first_day, end_day)

    async def fetch_many(
        self, symbols: Sequence[str], first_day: date, end_day: date
    ) -> list[CandleFetch]:
        """`fetch_daily_candles` for several symbols concurrently (CCXT's limiter spaces the
        requests); the first failure cancels the rest and is raised."""
        await self.load_markets()
        return await paging.gather(
            [self.fetch_daily_candles(s, first_day, end_day) for s in symbols]
        )

    def minimum_requests(self, pairs: int, first_day: date, end_day: date) -> int:
        """The physical minimum for `pairs` pairs over [first_day, end_day), market load included."""
        days = closed_days(first_day, end_day, self.clock().date())
        return self.venue.market_load_requests + pairs * self.venue.page_count(days)


@asynccontextmanager
async def open_exchanges(
    settings: ExchangeSettings, *, clock: Callable[[], datetime] = utc_now
) -> AsyncIterator[dict[str, ExchangeClient]]:
    """One client per configured exchange, markets loaded (concurrently), all closed at the end."""
    clients = {ex: ExchangeClient(ex, settings, clock=clock) for ex in settings.exchanges}
    try:
        await paging.gather([c.load_markets() for c in clients.values()])
        yield clients
    finally:
        await asyncio.gather(*(c.close() for c in clients.values()), return_exceptions=True)
