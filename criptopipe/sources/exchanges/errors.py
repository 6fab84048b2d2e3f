"""Typed exchange errors whose messages say what happened and what to do, and the one place
where CCXT's exceptions are classified into them.

`retryable` tells callers (a retry loop, a Dagster retry policy) whether trying again may help.
CCXT's hierarchy is not enough on its own (../shared/docs/exchanges-ccxt.md): Binance's 429 and
418 both raise `DDoSProtection` (a 418 is a ban that retrying extends), Kraken's unknown pair is a
plain `ExchangeError`, and a body cut short surfaces as a plain `ExchangeError` caused by aiohttp's
`ClientPayloadError`. CCXT's `OperationFailed` branch (network errors, bad responses, Binance's
-1000) is what CCXT itself would retry; its `ExchangeError` branch is not. `classify` looks at the status and headers the call actually got (recorded
by the client as the response arrived) to tell these apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # CCXT takes ~2 s to import: configuration checks must not pay for it
    import ccxt


class ExchangeSourceError(Exception):
    """Base of every error the exchanges source raises."""

    retryable: bool = False


class UnknownExchangeError(ExchangeSourceError):
    """Configuration names an exchange CCXT does not know, or one criptopipe has no rules for."""

    def __init__(
        self,
        exchange_id: str,
        close: list[str],
        supported: list[str],
        known_to_ccxt: bool = False,
    ) -> None:
        self.exchange_id, self.close = exchange_id, close
        listed = ",".join(supported)
        if known_to_ccxt:
            msg = (
                f"CCXT knows the exchange {exchange_id!r}, but criptopipe has no candle paging "
                f"rules for it yet (criptopipe/sources/exchanges/venues.py); use one of "
                f"CRIPTOPIPE_EXCHANGES={listed}"
            )
        else:
            hint = f"; CCXT ids close to it: {', '.join(close)}" if close else ""
            msg = (
                f"unknown exchange id {exchange_id!r}: CCXT has no such exchange{hint}. "
                f"Supported here: CRIPTOPIPE_EXCHANGES={listed}"
            )
        super().__init__(msg)


class UnknownSymbolError(ExchangeSourceError):
    """A unified symbol that is not among the exchange's loaded spot markets."""

    def __init__(self, exchange_id: str, symbol: str, close: list[str]) -> None:
        self.exchange_id, self.symbol = exchange_id, symbol
        hint = f" Close ones: {', '.join(close)}." if close else ""
        super().__init__(
            f"{exchange_id} has no spot market {symbol!r} (unified CCXT symbols look like "
            f"'BTC/USDT').{hint} Map coins with map_symbols() instead of guessing symbols."
        )


class SymbolUnavailableError(ExchangeSourceError):
    """The exchange refused a symbol its own market list had: markets changed since loading."""

    def __init__(self, exchange_id: str, symbol: str, detail: str) -> None:
        self.exchange_id, self.symbol = exchange_id, symbol
        super().__init__(
            f"{exchange_id} no longer serves {symbol} ({detail}): its markets changed since they "
            "were loaded (delisted or renamed). Rerun to reload markets and remap the coins; "
            "nothing was written for this pair."
        )


class ExchangeBannedError(ExchangeSourceError):
    """The exchange banned this IP (Binance 418, Kraken temporary lockout): retrying now only
    extends the ban, so this is not retried."""

    def __init__(
        self, exchange_id: str, retry_after_s: float | None, until: datetime | None, detail: str
    ) -> None:
        self.exchange_id, self.retry_after_s, self.until = exchange_id, retry_after_s, until
        when = (
            f"until {until:%Y-%m-%d %H:%M:%S} UTC"
            if until
            else f"for {retry_after_s:.0f}s"
            if retry_after_s is not None
            else "for an unknown time"
        )
        escalates = (
            " (Binance escalates from 2 minutes to 3 days)" if exchange_id == "binance" else ""
        )
        super().__init__(
            f"{exchange_id} banned this IP {when} ({detail}). Retrying before then extends the "
            f"ban{escalates}: wait, then rerun with a larger rate limit interval for "
            f"{exchange_id} (ExchangeSettings.rate_limit_ms)."
        )


class ExchangeRequestError(ExchangeSourceError):
    """The exchange refused the request for a reason a retry cannot fix."""

    def __init__(self, exchange_id: str, what: str, detail: str) -> None:
        self.exchange_id = exchange_id
        super().__init__(f"{exchange_id} refused {what}: {detail}")


class MalformedCandleError(ExchangeSourceError):
    """A candle row that is not what the exchange documents: nothing of the pair is kept."""

    def __init__(self, exchange_id: str, symbol: str, row: object, why: str) -> None:
        shown = repr(row)
        shown = shown if len(shown) <= 200 else shown[:200] + "..."
        super().__init__(
            f"{exchange_id} sent a malformed candle for {symbol}: {shown}: {why}. The API may "
            "have changed shape; nothing of this pair was kept."
        )


class TransientExchangeError(ExchangeSourceError):
    """One failed attempt that a later one may fix (throttled, down, timed out, cut short)."""

    retryable = True

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RetriesExhaustedError(ExchangeSourceError):
    """Transient failures outlasted the retry budget; a later run may succeed."""

    retryable = True

    def __init__(self, exchange_id: str, what: str, attempts: int, seconds: float, last: str):
        self.exchange_id, self.attempts, self.seconds = exchange_id, attempts, seconds
        super().__init__(
            f"{exchange_id} kept failing on {what}: gave up after {attempts} attempt(s) over "
            f"{seconds:.1f}s; last error: {last}. The exchange may be down or throttling this IP: "
            "rerun later (nothing was written for this pair), or raise "
            "ExchangeSettings.max_attempts / max_retry_seconds."
        )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lower = name.lower()
    for key, value in headers.items():
        if key.lower() == lower:
            return value
    return None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Retry-After in seconds (Binance sends seconds); None when absent or not a number."""
    value = _header(headers, "Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:300] + "..."


def classify(
    exc: ccxt.BaseError,
    exchange_id: str,
    what: str,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    symbol: str | None = None,
) -> ExchangeSourceError:
    """The project's error for a CCXT exception raised by one call (`what`, e.g. "klines for
    BTC/USDT"), given the HTTP status and headers that call received, if any."""
    import aiohttp
    import ccxt

    headers = headers or {}
    detail = _short(exc)
    wait = retry_after_seconds(headers)
    if isinstance(exc, ccxt.DDoSProtection):
        banned = re.search(r"banned until (\d{10,})", str(exc))
        if status == 418 or banned or "Temporary lockout" in str(exc):
            until = (
                datetime.fromtimestamp(int(banned[1]) / 1000, tz=timezone.utc) if banned else None
            )
            return ExchangeBannedError(exchange_id, wait, until, detail)
        return TransientExchangeError(f"throttled on {what} (HTTP {status}): {detail}", wait)
    if isinstance(exc, ccxt.RateLimitExceeded):
        return TransientExchangeError(f"rate limited on {what} (HTTP {status}): {detail}", wait)
    if isinstance(exc, ccxt.RequestTimeout):
        return TransientExchangeError(f"{what} timed out: {detail}", wait)
    if isinstance(exc, ccxt.ExchangeNotAvailable):
        # also a 404 from a wrong URL override: the message keeps the URL to check
        return TransientExchangeError(
            f"{exchange_id} unavailable on {what} (HTTP {status}): {detail}", wait
        )
    if isinstance(exc, ccxt.BadResponse):
        return TransientExchangeError(f"{what}: unreadable body: {detail}")
    if isinstance(exc, ccxt.OperationFailed):
        # CCXT's own class for "may pass on retry" (network errors, Binance -1000 and the like)
        return TransientExchangeError(f"{what} failed (HTTP {status}): {detail}", wait)
    if isinstance(exc.__cause__, aiohttp.ClientPayloadError):
        return TransientExchangeError(f"{what}: the body was cut short ({exc.__cause__})")
    if isinstance(exc, ccxt.BadSymbol) or "Unknown asset pair" in str(exc):
        if symbol is not None:
            return SymbolUnavailableError(exchange_id, symbol, detail)
        return ExchangeRequestError(exchange_id, what, detail)
    return ExchangeRequestError(exchange_id, what, detail)
