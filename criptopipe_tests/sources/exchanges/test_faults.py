"""Faults injected into the exchange sandbox, seen through real CCXT: what is retried (and how
long it waits), what fails at once, and that nothing ever comes back silently empty."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from criptopipe.sources.exchanges import (
    CandleFetch,
    ExchangeBannedError,
    ExchangeClient,
    MalformedCandleError,
    MeterSnapshot,
    RetriesExhaustedError,
    SymbolUnavailableError,
)
from criptopipe.sources.exchanges.sandbox import ExchangeSandbox
from criptopipe_tests.sources.exchanges.conftest import with_client

#: 31 closed days inside Kraken's 720-day horizon, whatever the date the suite runs on
FIRST = datetime.now(timezone.utc).date() - timedelta(days=60)
END = FIRST + timedelta(days=31)
SYMBOL = {"binance": "BTC/USDT", "kraken": "BTC/USD"}
CANDLES = {"binance": "klines", "kraken": "OHLC"}


def run(
    sb: ExchangeSandbox, exchange: str, rules: list[dict[str, Any]], **settings: Any
) -> tuple[CandleFetch, MeterSnapshot]:
    """Load markets, arm the faults, fetch 31 days of BTC."""

    async def body(client: ExchangeClient) -> tuple[CandleFetch, MeterSnapshot]:
        await client.load_markets()
        sb.set_faults({"rules": [{"exchange": exchange, **r} for r in rules]})
        result = await client.fetch_daily_candles(SYMBOL[exchange], FIRST, END)
        return result, client.meter.snapshot()

    return with_client(sb, exchange, body, **settings)


def calls(sb: ExchangeSandbox, exchange: str) -> list[int]:
    """Statuses of the candle requests the sandbox answered, in order."""
    return [
        r["status"]
        for r in sb.stats()["requests"]
        if r["exchange"] == exchange and r["route"] == CANDLES[exchange]
    ]


def test_binance_429_storm_waits_retry_after_then_succeeds(xsb: ExchangeSandbox) -> None:
    started = time.monotonic()
    result, meter = run(
        xsb, "binance", [{"kind": "throttle", "path": "klines", "times": 2, "retry_after": 1}]
    )
    assert len(result.candles) == 31 and result.requests == 3
    assert calls(xsb, "binance") == [429, 429, 200]
    # Retry-After (1 s) was waited exactly, not the jittered backoff (at most 0.2 s here)
    assert meter.retries == 2 and meter.waited_s == 2.0
    assert time.monotonic() - started >= 2.0


def test_kraken_throttle_inside_http_200_is_retried(xsb: ExchangeSandbox) -> None:
    result, meter = run(xsb, "kraken", [{"kind": "throttle", "times": 2}])
    assert len(result.candles) == 31 and meter.retries == 2
    assert calls(xsb, "kraken") == [200, 200, 200]  # errors inside HTTP 200 bodies


@pytest.mark.parametrize("exchange", ["binance", "kraken"])
def test_a_ban_fails_at_once_and_is_not_retried(xsb: ExchangeSandbox, exchange: str) -> None:
    with pytest.raises(ExchangeBannedError) as caught:
        run(xsb, exchange, [{"kind": "ban", "times": None, "retry_after": 300}])
    assert caught.value.retryable is False
    assert len(calls(xsb, exchange)) == 1  # one request, no hammering a ban
    message = str(caught.value)
    assert "banned this IP" in message and "\n" not in message
    if exchange == "binance":
        assert calls(xsb, exchange) == [418]
        assert caught.value.retry_after_s == 300 and caught.value.until is not None
        assert "until" in message and "3 days" in message


def test_5xx_is_retried_and_a_persistent_outage_gives_up_clearly(xsb: ExchangeSandbox) -> None:
    result, _ = run(xsb, "binance", [{"kind": "status", "status": 503, "times": 1}])
    assert len(result.candles) == 31 and calls(xsb, "binance") == [503, 200]
    xsb.reset()
    with pytest.raises(RetriesExhaustedError) as caught:
        run(xsb, "kraken", [{"kind": "status", "status": 502, "times": None}], max_attempts=3)
    assert caught.value.retryable is True and caught.value.attempts == 3
    assert calls(xsb, "kraken") == [502, 502, 502]
    assert "gave up after 3 attempt(s)" in str(caught.value)


@pytest.mark.parametrize("kind", ["truncate", "malformed"])
@pytest.mark.parametrize("exchange", ["binance", "kraken"])
def test_cut_or_garbled_json_is_retried_never_silently_empty(
    xsb: ExchangeSandbox, exchange: str, kind: str
) -> None:
    result, meter = run(xsb, exchange, [{"kind": kind, "times": 1}])
    assert len(result.candles) == 31 and meter.retries == 1
    xsb.reset()
    # CCXT alone turns a garbled body into an empty list; here it is an error
    with pytest.raises(RetriesExhaustedError, match="not valid JSON|cut short"):
        run(xsb, exchange, [{"kind": kind, "times": None}], max_attempts=2)


def test_a_hang_times_out_and_is_retried(xsb: ExchangeSandbox) -> None:
    result, meter = run(
        xsb, "binance", [{"kind": "hang", "seconds": 1.5, "times": 1}], timeout_ms=400
    )
    assert len(result.candles) == 31 and meter.retries == 1
    with pytest.raises(RetriesExhaustedError, match="timed out"):
        run(
            xsb,
            "kraken",
            [{"kind": "hang", "seconds": 1, "times": None}],
            timeout_ms=300,
            max_attempts=2,
        )


@pytest.mark.parametrize("exchange", ["binance", "kraken"])
def test_a_symbol_the_exchange_no_longer_serves_fails_at_once(
    xsb: ExchangeSandbox, exchange: str
) -> None:
    # the markets were loaded with the pair, then the exchange refuses it (changed markets)
    with pytest.raises(SymbolUnavailableError) as caught:
        run(xsb, exchange, [{"kind": "unknown_symbol", "times": None}])
    assert caught.value.retryable is False and len(calls(xsb, exchange)) == 1
    assert SYMBOL[exchange] in str(caught.value) and "reload markets" in str(caught.value)


def test_kraken_result_under_another_key_is_an_error_not_an_empty_pair(
    xsb: ExchangeSandbox,
) -> None:
    with pytest.raises(MalformedCandleError, match="keyed by another name"):
        run(xsb, "kraken", [{"kind": "altname_key", "times": None}])


def test_a_market_load_that_fails_once_is_retried(xsb: ExchangeSandbox) -> None:
    xsb.set_faults(
        {"rules": [{"exchange": "kraken", "kind": "status", "status": 503, "path": "AssetPairs"}]}
    )

    async def body(client: ExchangeClient) -> int:
        await client.load_markets()
        await client.load_markets()  # once per run: no second load
        return len(client.markets)

    assert with_client(xsb, "kraken", body) > 20
    assert xsb.stats()["kraken"]["by_route"] == {"Assets": 2, "AssetPairs": 2}
