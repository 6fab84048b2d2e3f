"""Daily candles of one pair, paged at the exchange's maximum, and exact candles from raw rows.

Binance serves up to 1000 candles per request between `startTime` and `until`; Kraken answers one
request with everything from `since` to the present within its 720-candle horizon. The last page
reaches into today when the window does (no extra request), and the still-open day is dropped by
arithmetic (`open + 1 day > now`), never by position. Every day of the window without a candle is
reported as a gap with a reason (`coverage.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from criptopipe.sources.exchanges.coverage import find_gaps
from criptopipe.sources.exchanges.errors import MalformedCandleError
from criptopipe.sources.exchanges.models import Candle, CandleFetch
from criptopipe.sources.exchanges.retry import Outcome, with_retries
from criptopipe.sources.exchanges.venues import Venue, closed_days

if TYPE_CHECKING:
    from criptopipe.sources.exchanges.client import ExchangeClient

DAY = timedelta(days=1)
DAY_MS = 86_400_000
EPOCH = date(1970, 1, 1)


def day_ms(day: date) -> int:
    return (day - EPOCH).days * DAY_MS


def ms_day(ms: int) -> date:
    return EPOCH + timedelta(days=ms // DAY_MS)


async def fetch_page(
    client: ExchangeClient, symbol: str, start: date, until: date
) -> tuple[list[list[Any]], Outcome]:
    """One request: the candles opening in [start, until) (Binance), or from `start` to the
    present within the horizon (Kraken). Rows are CCXT's unified row + the raw row."""
    outcome = Outcome()
    since = day_ms(start)
    if client.venue.pages_with_until:
        limit = min((until - start).days, client.venue.max_candles)
        params = {"until": day_ms(until) - 1}

        def call() -> Any:
            return client.ccxt.fetch_ohlcv(symbol, "1d", since, limit, params)
    else:

        def call() -> Any:
            return client.ccxt.fetch_ohlcv(symbol, "1d", since)

    async with client.in_flight:
        rows = await with_retries(
            call,
            exchange_id=client.id,
            what=f"daily candles of {symbol} from {start}",
            policy=client.policy,
            meter=client.meter,
            outcome=outcome,
            symbol=symbol,
        )
    if not rows and not client.venue.pages_with_until:
        # Kraken always sends the current day's row: nothing at all means CCXT found no
        # result under the pair's key (fact 9 of docs/exchanges-ccxt.md), not "no data"
        raise MalformedCandleError(
            client.id,
            symbol,
            outcome.last_url,
            "no OHLC rows under the pair's key, although Kraken always sends the current "
            "day's; the result is probably keyed by another name",
        )
    return list(rows), outcome


async def fetch_daily_candles(
    client: ExchangeClient, symbol: str, first_day: date, end_day: date
) -> CandleFetch:
    """See `ExchangeClient.fetch_daily_candles`."""
    if end_day < first_day:
        raise ValueError(f"end_day {end_day} is before first_day {first_day}")
    await client.load_markets()
    market = client.market(symbol)
    venue = client.venue
    today = client.clock().date()
    days = closed_days(first_day, end_day, today)
    pages = venue.pages(first_day, first_day + days * DAY) if days else []
    # the last page reaches into today when the window does: no extra request, and
    # today's unfinished candle is then dropped by arithmetic below
    spans = [
        (start, today + DAY if i == len(pages) - 1 and end_day > today else stop)
        for i, (start, stop) in enumerate(pages)
    ]
    results = await gather([fetch_page(client, symbol, start, stop) for start, stop in spans])
    now_ms = int(client.clock().timestamp() * 1000)
    candles: dict[date, Candle] = {}
    seen: list[date] = []
    dropped = requests = 0
    capped = False
    for rows, outcome in results:
        requests += outcome.requests
        if venue.horizon_candles is not None:
            capped = capped or len(rows) >= venue.horizon_candles
        for row in rows:
            opened = int(row[0])
            seen.append(ms_day(opened))
            if opened + DAY_MS > now_ms:
                dropped += 1  # still open: its numbers would change
                continue
            day = ms_day(opened)
            if first_day <= day < end_day and day not in candles:
                candles[day] = to_candle(
                    client.id, venue, symbol, market, row, day, outcome.last_url
                )
    gaps = find_gaps(
        exchange=client.id,
        exchange_name=venue.name,
        symbol=symbol,
        first=first_day,
        end=end_day,
        today=today,
        have=set(candles),
        first_seen=min(seen) if seen else None,
        last_seen=max(seen) if seen else None,
        capped=capped,
        horizon=venue.horizon_candles,
        active=market.get("active") is not False,
    )
    return CandleFetch(
        exchange=client.id,
        symbol=symbol,
        market_id=str(market["id"]),
        first_day=first_day,
        end_day=end_day,
        candles=[candles[d] for d in sorted(candles)],
        gaps=gaps,
        requests=requests,
        dropped_open=dropped,
    )


def to_candle(
    exchange_id: str,
    venue: Venue,
    symbol: str,
    market: Mapping[str, Any],
    row: list[Any],
    day: date,
    url: str,
) -> Candle:
    """A candle from CCXT's unified row (exact strings) and the raw row it appended."""
    raw = row[6] if len(row) > 6 else None
    if not isinstance(raw, list) or len(raw) < venue.raw_row_length:
        raise MalformedCandleError(
            exchange_id, symbol, raw, f"expected at least {venue.raw_row_length} fields"
        )
    try:
        o, h, low, c, v = (exact(x) for x in row[1:6])
        quote_volume, trades = venue.extras(raw)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise MalformedCandleError(exchange_id, symbol, raw, str(exc) or "not a number") from None
    return Candle(
        exchange=exchange_id,
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


def exact(value: Any) -> Decimal:
    """A decimal from CCXT's `number = str` output; a float here would be a bug, so refuse it."""
    if not isinstance(value, str):
        raise TypeError(f"expected a decimal string, got {type(value).__name__} {value!r}")
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


async def gather(coros: Sequence[Any]) -> list[Any]:
    """Run concurrently; on the first failure cancel the others, wait for them, and raise it."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
