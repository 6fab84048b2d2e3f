"""One exchange sandbox for the package's tests, and settings that point CCXT at it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from criptopipe.sources.exchanges import ExchangeClient, ExchangeSettings
from criptopipe.sources.exchanges.sandbox import ExchangeSandbox

T = TypeVar("T")
#: as many coins as the CoinCap sandbox the integration tests start
COINS = 40


@pytest.fixture(scope="package")
def exchange_sandbox() -> Iterator[ExchangeSandbox]:
    with ExchangeSandbox(port=0, coins=COINS) as sb:
        yield sb


@pytest.fixture
def xsb(exchange_sandbox: ExchangeSandbox) -> Iterator[ExchangeSandbox]:
    """The package's sandbox with counters, faults and skew cleared for this test."""
    exchange_sandbox.set_faults({})
    exchange_sandbox.set_skew({})
    exchange_sandbox.reset()
    yield exchange_sandbox
    exchange_sandbox.set_faults({})
    exchange_sandbox.set_skew({})


def sandbox_settings(sb: ExchangeSandbox, **overrides: Any) -> ExchangeSettings:
    """CCXT against the sandbox with a 1 ms rate limit (CCXT's defaults: 50 and 1000 ms)."""
    base: dict[str, Any] = {
        "url_overrides": sb.urls,
        "rate_limit_ms": {"binance": 1, "kraken": 1},
        "timeout_ms": 3000,
        "backoff_base_s": 0.05,
        "backoff_max_s": 0.2,
    }
    return ExchangeSettings(**{**base, **overrides})


def with_client(
    sb: ExchangeSandbox,
    exchange: str,
    body: Callable[[ExchangeClient], Awaitable[T]],
    **overrides: Any,
) -> T:
    """Run `body(client)` on a fresh client (one per run, as in production), then close it."""

    async def run() -> T:
        async with ExchangeClient(exchange, sandbox_settings(sb, **overrides)) as client:
            return await body(client)

    return asyncio.run(run())
