"""Daily candles through real CCXT over HTTP against the exchange sandbox: ranges and paging, the
open day, listings, delistings, Kraken's horizon, exact decimals, request counts, and agreement
with the CoinCap sandbox's prices."""

from __future__ import annotations

import asyncio
import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from criptopipe.sources.coincap.sandbox import SandboxServer
from criptopipe.sources.exchanges import (
    CandleFetch,
    ExchangeClient,
    GapReason,
    TrackedCoin,
    minimum_requests,
    minimum_weight,
    open_exchanges,
)
from criptopipe.sources.exchanges.sandbox import ExchangeSandbox
from criptopipe_tests.sources.exchanges.conftest import COINS, sandbox_settings, with_client

DAY = timedelta(days=1)


def today() -> date:
    return datetime.now(timezone.utc).date()


def ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)


def fetch(sb: ExchangeSandbox, exchange: str, symbol: str, first: date, end: date) -> CandleFetch:
    async def body(client: ExchangeClient) -> CandleFetch:
        return await client.fetch_daily_candles(symbol, first, end)

    return with_client(sb, exchange, body)


def gaps(result: CandleFetch) -> list[tuple[date, date, GapReason]]:
    return [(g.first, g.last, g.reason) for g in result.gaps]


def api_calls(sb: ExchangeSandbox, exchange: str, route: str) -> list[dict[str, Any]]:
    return [r for r in sb.stats()["requests"] if r["exchange"] == exchange and r["route"] == route]


def query(path: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(path).query).items()}


def test_binance_range_over_1000_days_pages_at_the_maximum(xsb: ExchangeSandbox) -> None:
    first, end = date(2018, 1, 1), date(2021, 6, 1)  # 1247 days: two pages
    result = fetch(xsb, "binance", "BTC/USDT", first, end)

    days = [c.day for c in result.candles]
    assert days == [first + i * DAY for i in range((end - first).days)]
    assert result.gaps == [] and result.dropped_open == 0
    klines = [query(r["path"]) for r in api_calls(xsb, "binance", "klines")]
    assert sorted((int(q["startTime"]), int(q["endTime"]), int(q["limit"])) for q in klines) == [
        (ms(first), ms(first + 1000 * DAY) - 1, 1000),
        (ms(first + 1000 * DAY), ms(end) - 1, 247),
    ]
    # physical minimum: ceil(1247 / 1000) pages + one exchangeInfo, and nothing else
    assert result.requests == 2
    assert xsb.stats()["binance"]["by_route"] == {"exchangeInfo": 1, "klines": 2}
    assert minimum_requests("binance", 1, first, end, today()) == 3


def test_candles_are_exact_decimals_of_the_rows_as_sent(xsb: ExchangeSandbox) -> None:
    first = today() - 60 * DAY  # inside Kraken's 720-day horizon whatever the date
    end = first + 10 * DAY
    for exchange, symbol, market_id in (
        ("binance", "ETH/USDT", "ETHUSDT"),
        ("kraken", "ETH/USD", "XETHZUSD"),
    ):
        result = fetch(xsb, exchange, symbol, first, end)
        assert len(result.candles) == 10
        if exchange == "binance":
            sent = httpx.get(
                f"{xsb.url('binance')}/api/v3/klines",
                params={
                    "symbol": market_id,
                    "interval": "1d",
                    "startTime": ms(first),
                    "endTime": ms(end) - 1,
                },
            ).json()
        else:
            body = httpx.get(
                f"{xsb.url('kraken')}/0/public/OHLC",
                params={"pair": market_id, "interval": 1440, "since": ms(first) // 1000 - 86400},
            ).json()
            sent = [r for r in body["result"][market_id] if r[0] < ms(end) // 1000]
        assert [c.raw for c in result.candles] == sent
        for c in result.candles:
            assert (c.exchange, c.symbol, c.market_id) == (exchange, symbol, market_id)
            # trailing zeros survive: nothing went through a float
            assert [str(c.open), str(c.high), str(c.low), str(c.close)] == c.raw[1:5]
            assert c.source_url.startswith(xsb.url(exchange))
            if exchange == "binance":
                assert str(c.base_volume) == c.raw[5] and str(c.quote_volume) == c.raw[7]
                assert c.trades == c.raw[8]
            else:
                assert str(c.base_volume) == c.raw[6] and c.trades == c.raw[7]
                assert c.quote_volume == Decimal(c.raw[5]) * Decimal(c.raw[6])  # exact product
                assert c.vwap == Decimal(c.raw[5])
            assert c.low <= min(c.open, c.close) and c.high >= max(c.open, c.close)


def test_the_open_day_is_dropped_by_arithmetic_on_both_exchanges(xsb: ExchangeSandbox) -> None:
    now = today()
    for exchange, symbol in (("binance", "BTC/USDT"), ("kraken", "BTC/USD")):
        result = fetch(xsb, exchange, symbol, now - 5 * DAY, now + 2 * DAY)
        assert [c.day for c in result.candles] == [now - i * DAY for i in range(5, 0, -1)]
        assert result.dropped_open == 1  # the exchange did send today's unfinished candle
        assert gaps(result) == [(now, now + DAY, GapReason.NOT_CLOSED)]
        assert result.requests == 1
    # Binance's request reached into today (no extra request), so today's row came with it
    (klines,) = api_calls(xsb, "binance", "klines")
    assert int(query(klines["path"])["endTime"]) == ms(now + DAY) - 1
    # a window in the past: Kraken still sends its uncommitted row, which is still dropped
    result = fetch(xsb, "kraken", "BTC/USD", now - 30 * DAY, now - 20 * DAY)
    assert len(result.candles) == 10 and result.dropped_open == 1 and result.gaps == []
    # a window that has not closed at all costs no request
    result = fetch(xsb, "binance", "BTC/USDT", now, now + 3 * DAY)
    assert result.candles == [] and result.requests == 0
    assert gaps(result) == [(now, now + 2 * DAY, GapReason.NOT_CLOSED)]


def test_listing_date_yields_the_days_the_pair_has_and_reports_the_rest(
    xsb: ExchangeSandbox,
) -> None:
    listed = date(2020, 8, 11)  # SOL/USDT on Binance (the sandbox's catalogue)
    result = fetch(xsb, "binance", "SOL/USDT", date(2020, 7, 1), date(2020, 9, 1))
    assert result.candles[0].day == listed and len(result.candles) == 21
    assert gaps(result) == [(date(2020, 7, 1), listed - DAY, GapReason.NOT_LISTED_YET)]
    assert str(listed) in result.gaps[0].detail
    before = fetch(xsb, "binance", "SOL/USDT", date(2020, 1, 1), date(2020, 2, 1))
    assert before.candles == [] and before.requests == 1
    assert gaps(before) == [(date(2020, 1, 1), date(2020, 1, 31), GapReason.NOT_LISTED_YET)]

    # Kraken: a pair younger than the horizon (listed 200 days ago) is "not listed yet" before
    young = today() - 200 * DAY
    result = fetch(xsb, "kraken", "AVAX/USD", young - 100 * DAY, young + 10 * DAY)
    assert [c.day for c in result.candles] == [young + i * DAY for i in range(10)]
    assert gaps(result) == [(young - 100 * DAY, young - DAY, GapReason.NOT_LISTED_YET)]


def test_delisted_pair_yields_its_history_and_reports_the_rest(xsb: ExchangeSandbox) -> None:
    result = fetch(xsb, "binance", "MATIC/USDT", date(2024, 9, 1), date(2024, 10, 1))
    assert [c.day for c in result.candles][-1] == date(2024, 9, 9)
    assert len(result.candles) == 9
    assert gaps(result) == [(date(2024, 9, 10), date(2024, 9, 30), GapReason.DELISTED)]
    assert "inactive" in result.gaps[0].detail
    # a hole in the middle of a trading pair's history is "missing", not silently absent
    result = fetch(xsb, "binance", "USDC/USDT", date(2019, 2, 20), date(2019, 4, 10))
    assert gaps(result) == [(date(2019, 3, 1), date(2019, 3, 31), GapReason.MISSING)]
    assert len(result.candles) == 49 - 31


def test_kraken_horizon_is_reported_as_not_available(xsb: ExchangeSandbox) -> None:
    horizon = today() - 719 * DAY  # the 720th most recent candle, today's included
    result = fetch(xsb, "kraken", "BTC/USD", horizon - 80 * DAY, horizon + 20 * DAY)
    assert [c.day for c in result.candles] == [horizon + i * DAY for i in range(20)]
    assert gaps(result) == [(horizon - 80 * DAY, horizon - DAY, GapReason.BEYOND_HORIZON)]
    assert "not available from this exchange" in result.gaps[0].detail
    assert "720" in result.gaps[0].detail and result.requests == 1
    # entirely older than the horizon: one request, nothing, and the reason, never silently empty
    old = fetch(xsb, "kraken", "BTC/USD", date(2020, 1, 1), date(2021, 1, 1))
    assert old.candles == [] and old.requests == 1
    assert gaps(old) == [(date(2020, 1, 1), date(2020, 12, 31), GapReason.BEYOND_HORIZON)]
    # Binance has no horizon: the same window is complete there
    assert len(fetch(xsb, "binance", "BTC/USDT", date(2020, 1, 1), date(2021, 1, 1)).candles) == 366


def test_backfill_requests_equal_the_physical_minimum(xsb: ExchangeSandbox) -> None:
    coins = [TrackedCoin(id=c.id, symbol=c.symbol) for c in xsb.universe.coins[:6]]
    now = today()
    windows = {
        "binance": (now - 2105 * DAY, now - 5 * DAY),  # 3 pages per pair
        "kraken": (now - 400 * DAY, now),  # 1 request per pair
    }

    async def run() -> dict[str, tuple[int, int, int]]:
        out = {}
        weights = []
        async with open_exchanges(sandbox_settings(xsb)) as clients:
            for exchange, client in clients.items():
                symbols = [m.symbol for m in client.map_coins(coins).matches]
                first, end = windows[exchange]
                results = await client.fetch_many(symbols, first, end)
                assert all(r.candles for r in results)
                weights.append(client.meter.snapshot().max_used_weight_1m)
                out[exchange] = (
                    client.meter.snapshot().requests,
                    client.minimum_requests(len(symbols), first, end),
                    len(symbols),
                )
        # Binance reported its used weight on every answer; Kraken has none
        assert weights[0] is not None and weights[0] > 0 and weights[1] is None
        return out

    counts = asyncio.run(run())
    stats = xsb.stats()
    for exchange, (made, minimum, pairs) in counts.items():
        first, end = windows[exchange]
        assert made == minimum == minimum_requests(exchange, pairs, first, end, now)
        assert stats[exchange]["requests"] == made
    binance_pairs, kraken_pairs = counts["binance"][2], counts["kraken"][2]
    assert counts["binance"][0] == 1 + binance_pairs * math.ceil(2100 / 1000)
    assert counts["kraken"][0] == 2 + kraken_pairs
    assert stats["kraken"]["by_route"] == {"Assets": 1, "AssetPairs": 1, "OHLC": kraken_pairs}
    # weight: exchangeInfo 20 + 2 per klines page
    first, end = windows["binance"]
    weight = minimum_weight("binance", binance_pairs, first, end, now)
    assert stats["binance"]["weight"] == weight == 20 + 2 * 3 * binance_pairs


def test_vwap_sits_near_the_coincap_sandbox_average_and_skew_moves_one_exchange(
    xsb: ExchangeSandbox,
) -> None:
    now = today()
    first, end = now - 40 * DAY, now
    pairs = {
        "binance": ["BTC/USDT", "ETH/USDT", "SOL/USDT"],
        "kraken": ["BTC/USD", "ETH/USD", "SOL/USD"],
    }
    coin_of = {"BTC": "bitcoin", "ETH": "ethereum", "SOL": "solana"}
    with SandboxServer(port=0, key=None, coins=COINS) as coincap:
        d1 = {
            coin: {
                datetime.fromtimestamp(p["time"] / 1000, tz=timezone.utc).date(): Decimal(
                    p["priceUsd"]
                )
                for p in httpx.get(
                    f"{coincap.base_url}/assets/{coin}/history",
                    params={"interval": "d1", "start": ms(first), "end": ms(end)},
                ).json()["data"]
            }
            for coin in coin_of.values()
        }

    def deviations() -> dict[str, list[float]]:
        async def run() -> dict[str, list[float]]:
            out: dict[str, list[float]] = {}
            async with open_exchanges(sandbox_settings(xsb)) as clients:
                for exchange, symbols in pairs.items():
                    for result in await clients[exchange].fetch_many(symbols, first, end):
                        coin = coin_of[result.symbol.split("/")[0]]
                        for c in result.candles:
                            if c.day in d1[coin] and c.vwap is not None:
                                out.setdefault(exchange, []).append(
                                    float(c.vwap / d1[coin][c.day] - 1)
                                )
            return out

        return asyncio.run(run())

    agree = deviations()
    for exchange in pairs:
        assert len(agree[exchange]) >= 100
        assert max(abs(d) for d in agree[exchange]) < 0.01  # a realistic spread
    xsb.set_skew({"kraken": 5.0})
    skewed = deviations()
    assert all(0.04 < d < 0.06 for d in skewed["kraken"])
    assert max(abs(d) for d in skewed["binance"]) < 0.01
