"""The CoinCap client against the sandbox over real TCP: pagination, chunking, every fault, the
meter, errors, and the key never leaking."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from pydantic import SecretStr

from criptopipe.sources.coincap import (
    AuthError,
    BadRequestError,
    ClientSettings,
    CoinCapClient,
    MalformedResponseError,
    MissingApiKeyError,
    NotFoundError,
    RetriesExhaustedError,
)
from criptopipe.sources.coincap.sandbox import SandboxServer
from criptopipe.sources.coincap.sandbox.server import http_date

KEY = "sk-secret-0123456789"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(port=0, key=KEY, coins=120) as sb:
        yield sb


@pytest.fixture(autouse=True)
def clean(sandbox: SandboxServer) -> None:
    sandbox.reset()
    sandbox.set_faults({})


def settings(sb: SandboxServer, **overrides: object) -> ClientSettings:
    base = {
        "base_url": sb.base_url,
        "api_key": KEY,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "timeout_s": 2.0,
        "max_retry_seconds": 20.0,
    }
    return ClientSettings(**{**base, **overrides})  # type: ignore[arg-type]


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=timezone.utc)


def test_pagination_past_2000_assets_stops_on_a_short_page() -> None:
    with SandboxServer(port=0, key=KEY, coins=2300) as big:

        async def go() -> tuple[list, object]:  # type: ignore[type-arg]
            # a 2,000-asset page takes the sandbox a while on a loaded machine: this test is
            # about paging, so a slow page must not turn into a timeout and a retry
            async with CoinCapClient(settings(big, timeout_s=60.0)) as client:
                return await client.list_assets(), client.meter.snapshot()

        assets, meter = run(go())
        stats = big.stats()
    assert len(assets) == 2300 and len({a.id for a in assets}) == 2300
    assert [r["path"] for r in stats["requests"]] == [
        "/v3/assets?limit=2000&offset=0",
        "/v3/assets?limit=2000&offset=2000",
    ]
    assert (meter.calls, meter.bytes, meter.credits) == (  # type: ignore[attr-defined]
        stats["calls"],
        stats["bytes"],
        stats["credits"],
    )


def test_first_n_and_ids(sandbox: SandboxServer) -> None:
    async def go() -> tuple[list, list]:  # type: ignore[type-arg]
        async with CoinCapClient(settings(sandbox)) as client:
            return await client.list_assets(limit=10), await client.list_assets(
                ids=["ethereum", "bitcoin"]
            )

    top, picked = run(go())
    assert [a.rank for a in top] == list(range(1, 11))
    assert {a.id for a in picked} == {"bitcoin", "ethereum"}
    assert sandbox.stats()["calls"] == 2


def test_history_is_chunked_by_span_without_duplicates(sandbox: SandboxServer) -> None:
    async def go() -> list:  # type: ignore[type-arg]
        async with CoinCapClient(settings(sandbox, history_span_days=100)) as client:
            return await client.history("bitcoin", start=day(2023, 1, 1), end=day(2024, 1, 1))

    points = run(go())
    calls = sandbox.stats()["requests"]
    assert len(calls) == 4  # 365 days in spans of 100
    assert len(points) == 365 and len({p.time for p in points}) == 365
    assert points == sorted(points, key=lambda p: p.time)
    expected = sandbox.universe.history_points(
        "bitcoin", day(2023, 1, 1).date(), day(2024, 1, 1).date()
    )
    assert [p.raw for p in points] == expected


def test_markets_paginate(sandbox: SandboxServer) -> None:
    async def go() -> list:  # type: ignore[type-arg]
        async with CoinCapClient(settings(sandbox, page_size=50)) as client:
            return await client.markets("bitcoin")

    markets = run(go())
    assert len(markets) == len(sandbox.universe.market_records("bitcoin")) > 150
    assert sandbox.stats()["calls"] == 4


@pytest.mark.parametrize(
    "rule",
    [
        {"kind": "status", "status": 429, "retry_after": "0", "times": 2},
        {"kind": "status", "status": 503, "times": 2},
        {"kind": "truncate", "times": 1},
        {"kind": "malformed", "times": 1},
        {"kind": "disconnect", "times": 1},
        {"kind": "hang", "seconds": 3, "times": 1},
        {"kind": "drop_field", "field": "priceUsd", "times": 1},
    ],
    ids=lambda r: r["kind"] + str(r.get("status", "")),
)
def test_a_fault_a_retry_can_save_is_saved(sandbox: SandboxServer, rule: dict) -> None:  # type: ignore[type-arg]
    sandbox.set_faults({"rules": [{**rule, "path": "history"}]})

    async def go() -> list:  # type: ignore[type-arg]
        async with CoinCapClient(settings(sandbox, timeout_s=1.0)) as client:
            return await client.history("ethereum", start=day(2024, 1, 1), end=day(2024, 2, 1))

    points = run(go())
    assert len(points) == 31
    # the fault was really hit, then retried (a hung request is logged when it finally answers)
    deadline = time.monotonic() + 5
    while sandbox.stats()["calls"] < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sandbox.stats()["calls"] >= 2


def test_a_hang_shorter_than_the_timeout_is_waited_for_a_longer_one_retried(
    sandbox: SandboxServer,
) -> None:
    sandbox.set_faults({"rules": [{"kind": "hang", "seconds": 0.3, "times": 1}]})

    async def go(timeout: float) -> None:
        async with CoinCapClient(settings(sandbox, timeout_s=timeout)) as client:
            await client.get_asset("bitcoin")

    run(go(5.0))
    assert sandbox.stats()["calls"] == 1  # waited, no retry
    sandbox.reset()
    sandbox.set_faults({"rules": [{"kind": "hang", "seconds": 0.6, "times": None}]})
    with pytest.raises(RetriesExhaustedError) as err:
        run(go(0.2))
    assert "timed out" in str(err.value) and "6 attempt(s)" in str(err.value)
    # the sandbox logs a hung request when it finally answers: let all six land in this test
    deadline = time.monotonic() + 10
    while sandbox.stats()["calls"] < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox.stats()["calls"] == 6


@pytest.mark.parametrize(
    "rule",
    [
        {"kind": "status", "status": 429, "retry_after": "0", "times": 2},
        {"kind": "status", "status": 500, "times": 1},
        {"kind": "truncate", "times": 2},
        {"kind": "malformed", "times": 1},
        {"kind": "drop_field", "field": "priceUsd", "times": 1},
    ],
    ids=lambda r: r["kind"],
)
def test_meter_equals_the_sandbox_counter_with_errors(sandbox: SandboxServer, rule: dict) -> None:  # type: ignore[type-arg]
    sandbox.set_faults({"rules": [{**rule, "path": "history"}]})

    async def go() -> tuple[object, object]:
        async with CoinCapClient(settings(sandbox)) as client:
            before = client.meter.snapshot()
            await client.list_assets(limit=30)
            middle = client.meter.snapshot()
            await client.history("bitcoin", start=day(2022, 1, 1), end=day(2023, 1, 1))
            return middle - before, client.meter.snapshot() - middle

    listing, history = run(go())
    requests = sandbox.stats()["requests"]
    billed = [
        (sum(1 for _ in rs), sum(r["bytes"] for r in rs), sum(r["credits"] for r in rs))
        for rs in (
            [r for r in requests if "history" not in r["path"]],
            [r for r in requests if "history" in r["path"]],
        )
    ]
    got = [(m.calls, m.bytes, m.credits) for m in (listing, history)]  # type: ignore[attr-defined]
    assert got == billed
    assert billed[1][0] >= 2  # the error responses are counted too


def test_retry_after_http_date_is_honoured(sandbox: SandboxServer) -> None:
    sandbox.set_faults(
        {"rules": [{"kind": "status", "status": 429, "retry_after": http_date(1), "times": 1}]}
    )

    async def go() -> None:
        async with CoinCapClient(settings(sandbox)) as client:
            await client.get_asset("bitcoin")

    run(go())
    first, second = sandbox.stats()["requests"]
    assert first["status"] == 429 and second["status"] == 200


def test_a_429_storm_fails_with_how_long_it_tried(sandbox: SandboxServer) -> None:
    sandbox.set_faults(
        {"rules": [{"kind": "status", "status": 429, "retry_after": "0", "times": None}]}
    )

    async def go() -> None:
        async with CoinCapClient(settings(sandbox, max_attempts=4)) as client:
            await client.get_asset("bitcoin")

    with pytest.raises(RetriesExhaustedError) as err:
        run(go())
    text = str(err.value)
    assert "4 attempt(s)" in text and "HTTP 429" in text and "/assets/bitcoin" in text
    assert sandbox.stats()["calls"] == 4


def test_a_persistent_shape_change_names_the_field(sandbox: SandboxServer) -> None:
    sandbox.set_faults({"rules": [{"kind": "drop_field", "field": "priceUsd", "times": None}]})

    async def go() -> None:
        async with CoinCapClient(settings(sandbox)) as client:
            await client.history("bitcoin", start=day(2024, 1, 1), end=day(2024, 1, 5))

    with pytest.raises(MalformedResponseError) as err:
        run(go())
    assert "priceUsd" in str(err.value) and "/assets/bitcoin/history" in str(err.value)


def test_extra_fields_are_kept_in_raw(sandbox: SandboxServer) -> None:
    sandbox.set_faults(
        {"rules": [{"kind": "extra_field", "field": "newField", "value": "x", "times": None}]}
    )

    async def go() -> list:  # type: ignore[type-arg]
        async with CoinCapClient(settings(sandbox)) as client:
            return await client.markets("bitcoin", limit=5)

    markets = run(go())
    assert all(m.raw["newField"] == "x" for m in markets)


@pytest.mark.parametrize(
    ("call", "error", "text"),
    [
        (lambda c: c.get_asset("no-such-coin"), NotFoundError, "no-such-coin"),
        (lambda c: c.list_assets(limit=2001), BadRequestError, "limit exceeds 2000"),
    ],
    ids=["404", "400"],
)
def test_client_errors_are_not_retried(sandbox: SandboxServer, call, error, text) -> None:  # type: ignore[no-untyped-def]
    async def go() -> None:
        async with CoinCapClient(settings(sandbox, page_size=2000)) as client:
            await call(client)

    if error is BadRequestError:
        # the client never asks for more than 2000 per page; talk to the route directly
        async def go() -> None:
            async with CoinCapClient(settings(sandbox)) as client:
                await client._transport.get("/assets", {"limit": 2001}, lambda b, s: b)

    with pytest.raises(error) as err:
        run(go())
    assert text in str(err.value)
    assert sandbox.stats()["calls"] == 1


def test_a_refused_key_says_so_and_never_leaks(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "sk-wrong-key-987654"
    sandbox.set_faults({"rules": [{"kind": "status", "status": 503, "times": 1}]})

    async def go(key: str) -> None:
        async with CoinCapClient(settings(sandbox, api_key=SecretStr(key))) as client:
            assert key not in repr(client)
            await client.get_asset("bitcoin")

    with pytest.raises(AuthError) as err:
        run(go(wrong))
    assert "refused the API key" in str(err.value)
    assert wrong not in str(err.value)
    run(go(KEY))
    assert KEY not in caplog.text and wrong not in caplog.text
    assert all(KEY not in r["path"] for r in sandbox.stats()["requests"])
    assert KEY not in repr(settings(sandbox)) and KEY not in str(settings(sandbox).model_dump())


def test_no_key_against_coincap_fails_before_any_request() -> None:
    with pytest.raises(MissingApiKeyError) as err:
        CoinCapClient(ClientSettings(api_key=SecretStr("")))
    assert "COINCAP_API_KEY is not set" in str(err.value) and "sandbox" in str(err.value)


def test_rate_limiter_is_shared_by_concurrent_calls(sandbox: SandboxServer) -> None:
    """25 concurrent calls under a 20/minute limit: the sandbox (same limit, its own window)
    sees exactly 20 calls, none refused, while 5 wait for the window; they are then cancelled."""
    sandbox.set_faults({"rate_limit_per_minute": 20})

    async def go() -> tuple[int, list[int]]:
        async with CoinCapClient(settings(sandbox, calls_per_minute=20, max_in_flight=8)) as c:
            tasks = [asyncio.create_task(c.get_asset("bitcoin")) for _ in range(25)]
            while sum(t.done() for t in tasks) < 20:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.5)  # room for a 21st call, were the limit not shared
            done = sum(t.done() for t in tasks)
            statuses = [r["status"] for r in sandbox.stats()["requests"]]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return done, statuses

    done, statuses = run(go())
    assert done == 20
    assert statuses == [200] * 20


def test_rate_limiter_holds_the_21st_call_for_the_window() -> None:
    from criptopipe.sources.coincap.transport import RateLimiter

    async def go() -> bool:
        limiter = RateLimiter(3)
        for _ in range(3):
            await limiter.acquire()
        try:
            await asyncio.wait_for(limiter.acquire(), timeout=0.3)
        except TimeoutError:
            return True
        return False

    assert run(go())


def test_waits_a_person_would_notice_are_logged_at_info(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    """What the run's event log shows (the logger is a managed one at INFO): a Retry-After
    sleep, and a rate-limit wait of a second or more; never the key."""
    from criptopipe.sources.coincap.transport import RateLimiter

    caplog.set_level(logging.INFO, logger="criptopipe.sources.coincap")
    sandbox.set_faults(
        {"rules": [{"kind": "status", "status": 429, "retry_after": "1", "times": 1}]}
    )

    async def go() -> None:
        async with CoinCapClient(settings(sandbox)) as client:
            await client.get_asset("bitcoin")
        limiter = RateLimiter(1)
        limiter.WINDOW = 1.0  # one call per second, so the second call waits about that long
        await limiter.acquire()
        await limiter.acquire()

    run(go())
    infos = [r for r in caplog.records if r.levelno >= logging.INFO]
    messages = [r.getMessage() for r in infos]
    assert any("HTTP 429" in m and "(as its Retry-After asks)" in m for m in messages), messages
    assert any(m.startswith("rate limit: 1 calls in the last 1s, waiting") for m in messages)
    assert KEY not in caplog.text
