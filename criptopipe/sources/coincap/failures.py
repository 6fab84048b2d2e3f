"""What a failed CoinCap call means: the wait `Retry-After` asks for, CoinCap's own message from
an error body, and why a connection could not be made (a host that does not exist fails at once;
a server that does not answer is retried only briefly, see `transport.py`)."""

from __future__ import annotations

import email.utils
import json
import socket
from datetime import datetime, timezone


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def error_message(body: bytes) -> str:
    """CoinCap's message from whatever error body came back, cut short."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return (text[:200] or "(empty body)").replace("\n", " ")
    if isinstance(data, dict):
        for key in ("error", "message"):
            if isinstance(data.get(key), str):
                return str(data[key])[:300]
        inner = data.get("data")
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])[:300]
    return text[:200]


class Retry(Exception):
    """A failed attempt a retry may fix, with the wait the server asked for (if any)."""

    def __init__(self, reason: str, wait: float | None = None, unanswered: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.wait = reason, wait
        #: nothing answered (refused, no connect): tried only for `unreachable_retry_s`
        self.unanswered = unanswered


def no_answer(exc: BaseException) -> str:
    """Why a connection could not be made, from the OS error under httpx's wrappers."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            break
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, OSError) and seen.errno is not None:
            return seen.strerror or str(seen)
        seen = seen.__cause__ or seen.__context__
    return f"could not connect ({exc})"


def unknown_host(exc: BaseException) -> bool:
    """Whether a connect error comes from a host name that does not exist (not from a resolver
    that is out for a moment, which may pass)."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, socket.gaierror):
            return seen.errno != socket.EAI_AGAIN
        seen = seen.__cause__ or seen.__context__
    return False
