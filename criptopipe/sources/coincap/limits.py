"""How much a client has spent and how fast it may go: the meter and the rate limiter."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

from criptopipe.sources.coincap.credits import credits_for

log = logging.getLogger("criptopipe.sources.coincap")


@dataclass(frozen=True)
class MeterSnapshot:
    calls: int = 0
    bytes: int = 0
    credits: int = 0

    def __sub__(self, other: MeterSnapshot) -> MeterSnapshot:
        return MeterSnapshot(
            self.calls - other.calls, self.bytes - other.bytes, self.credits - other.credits
        )

    def __add__(self, other: MeterSnapshot) -> MeterSnapshot:
        return MeterSnapshot(
            self.calls + other.calls, self.bytes + other.bytes, self.credits + other.credits
        )


class Meter:
    """Calls, decompressed response bytes and v3 credits of every response received."""

    def __init__(self) -> None:
        self._calls = self._bytes = self._credits = 0

    def add(self, body_bytes: int) -> None:
        self._calls += 1
        self._bytes += body_bytes
        self._credits += credits_for(body_bytes)

    def snapshot(self) -> MeterSnapshot:
        return MeterSnapshot(self._calls, self._bytes, self._credits)


class RateLimiter:
    """At most `per_minute` calls in any 60-second window (a sliding log), shared by all tasks."""

    WINDOW = 60.0
    MARGIN = 0.05  # the server sees a call a little after we send it
    NOTICEABLE_S = 1.0

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                while self._sent and now - self._sent[0] >= self.WINDOW + self.MARGIN:
                    self._sent.popleft()
                if len(self._sent) < self.per_minute:
                    self._sent.append(now)
                    return
                wait = self._sent[0] + self.WINDOW + self.MARGIN - now
                # a wait a person would notice is INFO (the run's event log shows it); the
                # sub-second ones a saturated window hands out call by call stay DEBUG
                log.log(
                    logging.INFO if wait >= self.NOTICEABLE_S else logging.DEBUG,
                    "rate limit: %d calls in the last %.0fs, waiting %.1fs for a slot",
                    len(self._sent),
                    self.WINDOW,
                    wait,
                )
                await asyncio.sleep(wait)


__all__ = ["Meter", "MeterSnapshot", "RateLimiter"]
