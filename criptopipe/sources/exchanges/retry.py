"""Our bounded retry around one CCXT call (CCXT itself retries nothing by default).

Transient failures (throttled, unavailable, timed out, body cut short) are retried with
exponential backoff and full jitter, waiting exactly `Retry-After` when the exchange sent one,
within `max_attempts` and `max_retry_seconds`; everything else is raised at once, classified.
The status and headers each attempt received are recorded by the client's CCXT hooks into the
`CallRecord` of the current task (a context variable), so concurrent calls never mix them up.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

from criptopipe.sources.exchanges.errors import RetriesExhaustedError, classify
from criptopipe.sources.exchanges.meter import RequestMeter

log = logging.getLogger("criptopipe.exchanges")
T = TypeVar("T")


@dataclass
class CallRecord:
    """What one attempt sent and got: filled in by the client's CCXT hooks."""

    urls: list[str] = field(default_factory=list)
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


CURRENT_CALL: ContextVar[CallRecord | None] = ContextVar("criptopipe_exchange_call", default=None)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    max_retry_seconds: float = 120.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0

    def backoff(self, attempt: int) -> float:
        cap = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        return random.uniform(0, cap)


@dataclass
class Outcome:
    """Every attempt's record, for request counts and the URL a result came from."""

    attempts: list[CallRecord] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(len(a.urls) for a in self.attempts)

    @property
    def last_url(self) -> str:
        return next((a.urls[-1] for a in reversed(self.attempts) if a.urls), "")


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    exchange_id: str,
    what: str,
    policy: RetryPolicy,
    meter: RequestMeter,
    outcome: Outcome | None = None,
    symbol: str | None = None,
) -> T:
    """Run `call` (one CCXT call) until it succeeds, fails for good, or the budget is spent."""
    import ccxt  # imported where a request is made: CCXT takes seconds to import

    outcome = outcome if outcome is not None else Outcome()
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        record = CallRecord()
        outcome.attempts.append(record)
        token = CURRENT_CALL.set(record)
        try:
            return await call()
        except ccxt.BaseError as exc:
            error = classify(exc, exchange_id, what, record.status, record.headers, symbol)
            if not error.retryable:
                raise error from exc
        finally:
            CURRENT_CALL.reset(token)
        wait_for = getattr(error, "retry_after_s", None)
        wait = wait_for if wait_for is not None else policy.backoff(attempt)
        elapsed = time.monotonic() - started
        if attempt >= policy.max_attempts or elapsed + wait > policy.max_retry_seconds:
            last = str(error)
            if wait_for is not None and elapsed + wait > policy.max_retry_seconds:
                last += f" (Retry-After {wait_for:.0f}s exceeds the retry budget)"
            raise RetriesExhaustedError(exchange_id, what, attempt, elapsed, last) from None
        log.warning(
            "%s: %s; retry %d/%d in %.2fs",
            exchange_id,
            error,
            attempt,
            policy.max_attempts - 1,
            wait,
        )
        meter.retried(wait)
        await asyncio.sleep(wait)
