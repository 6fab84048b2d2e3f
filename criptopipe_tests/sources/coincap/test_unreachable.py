"""A CoinCap that does not answer at all: tried only for a moment, then a typed error that says
how the step retries it; a host name that does not exist fails at once; a server restarting
within the moment is simply waited for."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from criptopipe.local.ports import free_port
from criptopipe.sources.coincap import ClientSettings, CoinCapClient
from criptopipe.sources.coincap.errors import CoinCapTransportError, CoinCapUnreachableError
from criptopipe.sources.coincap.sandbox import SandboxServer

KEY = "sk-unreachable-0123456789"


def _fetch(base_url: str, window: float = 1.5) -> None:
    settings = ClientSettings(
        base_url=base_url, api_key=KEY, backoff_base_s=0.1, unreachable_retry_s=window
    )

    async def go() -> None:
        async with CoinCapClient(settings) as client:
            await client.get_asset("bitcoin")

    asyncio.run(go())


def test_a_closed_port_is_tried_briefly_then_says_how_the_step_retries() -> None:
    base = f"http://127.0.0.1:{free_port()}/v3"
    started = time.monotonic()
    with pytest.raises(CoinCapUnreachableError) as err:
        _fetch(base)
    assert time.monotonic() - started < 3
    text = str(err.value)
    assert err.value.retryable and err.value.retry_limit == (2, 10.0)
    assert f"does not answer at {base} (connection refused)" in text
    assert "retried at most 2 times, 10 s apart" in text and "COINCAP_BASE_URL" in text
    assert KEY not in text


def test_a_host_that_does_not_exist_fails_at_once_without_retry() -> None:
    started = time.monotonic()
    with pytest.raises(CoinCapTransportError) as err:
        _fetch("http://no-such-host.invalid/v3")
    assert time.monotonic() - started < 1
    assert err.value.retryable is False and not isinstance(err.value, CoinCapUnreachableError)
    assert "does not resolve" in str(err.value) and "COINCAP_BASE_URL" in str(err.value)


def test_a_server_that_comes_back_within_the_moment_is_waited_for() -> None:
    port = free_port()
    started = threading.Event()
    stop = threading.Event()

    def restart_later() -> None:
        time.sleep(0.8)
        with SandboxServer(port=port, key=KEY, coins=5):
            started.set()
            stop.wait(30)

    thread = threading.Thread(target=restart_later, daemon=True)
    thread.start()
    try:
        _fetch(f"http://127.0.0.1:{port}/v3", window=10.0)
        assert started.is_set()
    finally:
        stop.set()
        thread.join(10)


def test_a_silent_server_is_unreachable_even_when_the_attempts_run_out_first() -> None:
    settings = ClientSettings(
        base_url=f"http://127.0.0.1:{free_port()}/v3",
        api_key=KEY,
        backoff_base_s=0.01,
        max_attempts=2,
        unreachable_retry_s=30.0,
    )

    async def go() -> None:
        async with CoinCapClient(settings) as client:
            await client.get_asset("bitcoin")

    with pytest.raises(CoinCapUnreachableError) as err:
        asyncio.run(go())
    assert err.value.retryable and "connection refused" in str(err.value)
