"""A thin async layer over `ccxt.async_support`: one instance per exchange per run, daily candles.

What it adds to CCXT, and nothing else:
- one CCXT instance per exchange (its rate limiter is per instance), spot markets loaded once,
  exact numbers (`number = str` once markets are loaded: nothing goes through a float);
- URL overrides for a stand-in (the sandbox): the public API keys point below the given root and
  every other `urls['api']` key at a closed local port, so a stray call fails fast offline;
- `fetch_daily_candles`: explicit paging at the exchange's maximum (Binance 1000 per request
  with `startTime`/`until`; Kraken one request, its 720-candle horizon), the still-open day
  dropped by arithmetic, every missing day reported with a reason;
- our bounded retry (CCXT retries nothing) and a request meter.
Three hooks on a subclass of CCXT's exchange class see what CCXT alone would hide: `fetch` counts
each request as it leaves, `on_rest_response` records the status and headers the attempt got
(Retry-After, Binance's used weight), and `parse_ohlcv` keeps the raw row beside CCXT's parse
(Binance's quote volume and Kraken's VWAP are not in CCXT's unified candle). The HTTP path is
CCXT's own; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import ccxt as ccxt_errors
import ccxt.async_support as ccxt_async

from criptopipe.sources.exchanges.coverage import find_gaps
from criptopipe.sources.exchanges.errors import MalformedCandleError, UnknownSymbolError
from criptopipe.sources.exchanges.meter import RequestMeter
from criptopipe.sources.exchanges.models import (
    Candle,
    CandleFetch,
    SymbolMap,
    TrackedCoin,
)
from criptopipe.sources.exchanges.retry import CURRENT_CALL, Outcome, RetryPolicy, with_retries
from criptopipe.sources.exchanges.settings import ExchangeSettings
from criptopipe.sources.exchanges.symbols import map_symbols
from criptopipe.sources.exchanges.venues import CLOSED_URL, Venue, closed_days, venue

DAY = timedelta(days=1)
DAY_MS = 86_400_000
EPOCH = date(1970, 1, 1)


def day_ms(day: date) -> int:
    return (day - EPOCH).days * DAY_MS


def ms_day(ms: int) -> date:
    return EPOCH + timedelta(days=ms // DAY_MS)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class _Hooks:
    """Mixed in before CCXT's exchange class (see the module docstring)."""

    criptopipe_meter: RequestMeter | None = None

    async def fetch(self, url: str, method: str = "GET", headers: Any = None, body: Any = None):  # type: ignore[no-untyped-def]
        if self.criptopipe_meter is not None:
            self.criptopipe_meter.sent(url)
        record = CURRENT_CALL.get()
        if record is not None:
            record.urls.append(url)
            record.status, record.headers = None, {}
        result = await super().fetch(url, method, headers, body)  # type: ignore[misc]
        if isinstance(result, (str, bytes)):
            # CCXT hands back the text when the body is not JSON (cut short, garbled, empty, an
            # HTML page with status 200), and its parsers then turn that into an empty result
            raise ccxt_errors.BadResponse(
                f"{getattr(self, 'id', '?')} GET {url}: the body is not valid JSON "
                f"({len(result)} characters: {result[:80]!r})"
            )
        return result

    def on_rest_response(  # type: ignore[no-untyped-def]
        self,
        code,
        reason,
        url,
        method,
        response_headers,
        response_body,
        request_headers,
        request_body,
    ):
        if self.criptopipe_meter is not None:
            self.criptopipe_meter.answered(response_headers)
        record = CURRENT_CALL.get()
        if record is not None:
            record.status, record.headers = code, dict(response_headers)
        return super().on_rest_response(  # type: ignore[misc]
            code,
            reason,
            url,
            method,
            response_headers,
            response_body,
            request_headers,
            request_body,
        )

    def parse_ohlcv(self, ohlcv: Any, market: Any = None) -> list[Any]:
        return [*super().parse_ohlcv(ohlcv, market), ohlcv]  # type: ignore[misc]


_CLASSES: dict[str, type] = {}


def _exchange_class(exchange_id: str) -> type:
    if exchange_id not in _CLASSES:
        base = getattr(ccxt_async, exchange_id)
        _CLASSES[exchange_id] = type(f"Metered{base.__name__}", (_Hooks, base), {})
    return _CLASSES[exchange_id]


def _point_all(urls: dict[str, Any], target: str) -> None:
    for key, value in urls.items():
        if isinstance(value, dict):
            _point_all(value, target)
        else:
            urls[key] = target


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
        self.ccxt: Any = _exchange_class(exchange_id)(config)
        self.ccxt.criptopipe_meter = self.meter
        root = settings.url_overrides.get(exchange_id)
        if root is not None:
            api = self.ccxt.urls["api"]
            _point_all(api, CLOSED_URL)
            for key, suffix in self.venue.public_urls.items():
                api[key] = root + suffix
        self._markets: dict[str, Any] | None = None
        self._markets_lock = asyncio.Lock()
        self._in_flight = asyncio.Semaphore(settings.max_in_flight)

    def __repr__(self) -> str:
        return f"ExchangeClient({self.id!r}, public={self.ccxt.urls['api'].get('public')!r})"

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

    def _market(self, symbol: str) -> Mapping[str, Any]:
        market = self.markets.get(symbol)
        if market is None or not market.get("spot"):
            spot = [s for s, m in self.markets.items() if m.get("spot")]
            close = difflib.get_close_matches(symbol, spot, n=5, cutoff=0.6)
            raise UnknownSymbolError(self.id, symbol, close)
        return market

    # ------------------------------------------------------------------ candles

    async def _page(self, symbol: str, start: date, until: date) -> tuple[list[list[Any]], Outcome]:
        """One request: the candles opening in [start, until) (Binance), or from `start` to the
        present within the horizon (Kraken). Rows are CCXT's unified row + the raw row."""
        outcome = Outcome()
        since = day_ms(start)
        if self.venue.pages_with_until:
            limit = min((until - start).days, self.venue.max_candles)
            params = {"until": day_ms(until) - 1}

            def call() -> Any:
                return self.ccxt.fetch_ohlcv(symbol, "1d", since, limit, params)
        else:

            def call() -> Any:
                return self.ccxt.fetch_ohlcv(symbol, "1d", since)

        async with self._in_flight:
            rows = await with_retries(
                call,
                exchange_id=self.id,
                what=f"daily candles of {symbol} from {start}",
                policy=self.policy,
                meter=self.meter,
                outcome=outcome,
                symbol=symbol,
            )
        if not rows and not self.venue.pages_with_until:
            # Kraken always sends the current day's row: nothing at all means CCXT found no
            # result under the pair's key (fact 9 of docs/exchanges-ccxt.md), not "no data"
            raise MalformedCandleError(
                self.id,
                symbol,
                outcome.last_url,
                "no OHLC rows under the pair's key, although Kraken always sends the current "
                "day's; the result is probably keyed by another name",
            )
        return list(rows), outcome

    async def fetch_daily_candles(self, symbol: str, first_day: date, end_day: date) -> CandleFetch:
        """Closed daily candles of `symbol` for the days in [first_day, end_day), and why any
        day of it has none. Requests: ceil(closed days / max per request), none if no day of the
        window has closed; retries on top only when something transient failed."""
        if end_day < first_day:
            raise ValueError(f"end_day {end_day} is before first_day {first_day}")
        await self.load_markets()
        market = self._market(symbol)
        today = self.clock().date()
        days = closed_days(first_day, end_day, today)
        pages = self.venue.pages(first_day, first_day + days * DAY) if days else []
        # the last page reaches into today when the window does: no extra request, and
        # today's unfinished candle is then dropped by arithmetic below
        spans = [
            (start, today + DAY if i == len(pages) - 1 and end_day > today else stop)
            for i, (start, stop) in enumerate(pages)
        ]
        results = await _gather([self._page(symbol, start, stop) for start, stop in spans])
        now_ms = int(self.clock().timestamp() * 1000)
        candles: dict[date, Candle] = {}
        seen: list[date] = []
        dropped = requests = 0
        capped = False
        for rows, outcome in results:
            requests += outcome.requests
            if self.venue.horizon_candles is not None:
                capped = capped or len(rows) >= self.venue.horizon_candles
            for row in rows:
                opened = int(row[0])
                seen.append(ms_day(opened))
                if opened + DAY_MS > now_ms:
                    dropped += 1  # still open: its numbers would change
                    continue
                day = ms_day(opened)
                if first_day <= day < end_day and day not in candles:
                    candles[day] = self._candle(symbol, market, row, day, outcome.last_url)
        gaps = find_gaps(
            exchange=self.id,
            exchange_name=self.venue.name,
            symbol=symbol,
            first=first_day,
            end=end_day,
            today=today,
            have=set(candles),
            first_seen=min(seen) if seen else None,
            last_seen=max(seen) if seen else None,
            capped=capped,
            horizon=self.venue.horizon_candles,
            active=market.get("active") is not False,
        )
        return CandleFetch(
            exchange=self.id,
            symbol=symbol,
            market_id=str(market["id"]),
            first_day=first_day,
            end_day=end_day,
            candles=[candles[d] for d in sorted(candles)],
            gaps=gaps,
            requests=requests,
            dropped_open=dropped,
        )

    async def fetch_many(
        self, symbols: Sequence[str], first_day: date, end_day: date
    ) -> list[CandleFetch]:
        """`fetch_daily_candles` for several symbols concurrently (CCXT's limiter spaces the
        requests); the first failure cancels the rest and is raised."""
        await self.load_markets()
        return await _gather([self.fetch_daily_candles(s, first_day, end_day) for s in symbols])

    def _candle(
        self, symbol: str, market: Mapping[str, Any], row: list[Any], day: date, url: str
    ) -> Candle:
        raw = row[6] if len(row) > 6 else None
        if not isinstance(raw, list) or len(raw) < self.venue.raw_row_length:
            raise MalformedCandleError(
                self.id, symbol, raw, f"expected at least {self.venue.raw_row_length} fields"
            )
        try:
            o, h, low, c, v = (_exact(x) for x in row[1:6])
            quote_volume, trades = self.venue.extras(raw)
        except (InvalidOperation, TypeError, ValueError) as exc:
            raise MalformedCandleError(self.id, symbol, raw, str(exc) or "not a number") from None
        return Candle(
            exchange=self.id,
            symbol=symbol,
            market_id=str(market["id"]),
            day=day,
            open=o,
            high=h,
            low=low,
            close=c,
            base_volume=v,
            quote_volume=quote_volume,
            trades=trades,
            raw=raw,
            source_url=url,
        )

    def minimum_requests(self, pairs: int, first_day: date, end_day: date) -> int:
        """The physical minimum for `pairs` pairs over [first_day, end_day), market load included."""
        days = closed_days(first_day, end_day, self.clock().date())
        return self.venue.market_load_requests + pairs * self.venue.page_count(days)


def _exact(value: Any) -> Decimal:
    """A decimal from CCXT's `number = str` output; a float here would be a bug, so refuse it."""
    if not isinstance(value, str):
        raise TypeError(f"expected a decimal string, got {type(value).__name__} {value!r}")
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


async def _gather(coros: Sequence[Any]) -> list[Any]:
    """Run concurrently; on the first failure cancel the others, wait for them, and raise it."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


@asynccontextmanager
async def open_exchanges(
    settings: ExchangeSettings, *, clock: Callable[[], datetime] = utc_now
) -> AsyncIterator[dict[str, ExchangeClient]]:
    """One client per configured exchange, markets loaded (concurrently), all closed at the end."""
    clients = {ex: ExchangeClient(ex, settings, clock=clock) for ex in settings.exchanges}
    try:
        await _gather([c.load_markets() for c in clients.values()])
        yield clients
    finally:
        await asyncio.gather(*(c.close() for c in clients.values()), return_exceptions=True)
