"""The HTTP transport: one keep-alive httpx client, retries, rate limit, metering, redaction.

Endpoints live in `client.py`; everything about *how* a call is made lives here:
- retries with exponential backoff and full jitter on 429, 5xx, timeouts, dropped connections
  and truncated or unparseable bodies, honouring `Retry-After` (seconds or an HTTP date),
  bounded by `max_attempts` and `max_retry_seconds`; never on 400/401/404;
- a server that does not answer at all (connection refused, connect timeout) is tried only for
  `unreachable_retry_s`, then `CoinCapUnreachableError`; a host name that does not resolve
  fails at once (a typo in COINCAP_BASE_URL);
- one sliding-window rate limiter per client (`limits.py`; v3: 600 calls/minute) shared by
  all concurrent calls, and a semaphore bounding calls in flight;
- a meter of calls, response bytes and v3 credits (`limits.py`), readable at any time;
- the key travels only in the Authorization header and is scrubbed from every message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import httpx

from criptopipe.sources.coincap.errors import (
    AuthError,
    BadRequestError,
    CoinCapTransportError,
    CoinCapUnreachableError,
    MalformedResponseError,
    MissingApiKeyError,
    NotFoundError,
    RetriesExhaustedError,
)
from criptopipe.sources.coincap.failures import (
    Retry,
    error_message,
    no_answer,
    parse_retry_after,
    unknown_host,
)
from criptopipe.sources.coincap.limits import Meter, MeterSnapshot, RateLimiter
from criptopipe.sources.coincap.settings import COINCAP_HOSTS, ClientSettings

log = logging.getLogger("criptopipe.sources.coincap")
T = TypeVar("T")
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: a shape error may be a one-off glitch; it is retried at most this many times
MALFORMED_RETRIES = 2


class Transport:
    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        self._key = settings.key()
        host = urlsplit(settings.base_url).hostname or ""
        if self._key is None and host in COINCAP_HOSTS:
            raise MissingApiKeyError(settings.base_url)
        headers = {"Accept": "application/json", "Accept-Encoding": "gzip"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        self._http = httpx.AsyncClient(
            base_url=settings.base_url,
            headers=headers,
            timeout=httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s),
            limits=httpx.Limits(
                max_connections=settings.max_in_flight,
                max_keepalive_connections=settings.max_in_flight,
            ),
            follow_redirects=False,
        )
        self.meter = Meter()
        self.limiter = RateLimiter(settings.calls_per_minute)
        self._in_flight = asyncio.Semaphore(settings.max_in_flight)

    def __repr__(self) -> str:
        return f"Transport(base_url={self.settings.base_url!r}, key={'***' if self._key else None})"

    def redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    async def aclose(self) -> None:
        await self._http.aclose()

    @staticmethod
    def source_path(path: str, params: Mapping[str, Any] | None) -> str:
        query = urlencode({k: v for k, v in (params or {}).items() if v is not None})
        return f"{path}?{query}" if query else path

    def _backoff(self, attempt: int) -> float:
        cap = min(self.settings.backoff_max_s, self.settings.backoff_base_s * 2 ** (attempt - 1))
        return random.uniform(0, cap)

    async def get(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        parse: Callable[[Any, str], T],
        slug: str | None = None,
    ) -> T:
        """GET `path`, parse the JSON body with `parse(body, source_path)`; retry what may pass."""
        source = self.source_path(path, params)
        route = f"GET {source}"
        started = time.monotonic()
        attempt = malformed = 0
        silent_since: float | None = None  # when the server stopped answering at all
        while True:
            attempt += 1
            tried_at = time.monotonic()
            try:
                return await self._once(path, params, parse, source, route, slug)
            except MalformedResponseError as exc:
                malformed += 1
                if malformed > MALFORMED_RETRIES or attempt >= self.settings.max_attempts:
                    raise
                retry = Retry(str(exc))
            except Retry as exc:
                retry = exc
            elapsed = time.monotonic() - started
            wait = retry.wait if retry.wait is not None else self._backoff(attempt)
            silent_since = (silent_since or tried_at) if retry.unanswered else None
            out_of_tries = (
                attempt >= self.settings.max_attempts
                or elapsed + wait > self.settings.max_retry_seconds
            )
            if silent_since is not None:
                silent = time.monotonic() - silent_since
                # a server that never answered is unreachable, whichever limit ends the tries
                if out_of_tries or silent + wait > self.settings.unreachable_retry_s:
                    raise CoinCapUnreachableError(
                        self.settings.base_url,
                        route,
                        attempt,
                        silent,
                        retry.reason,
                        self.settings.unreachable_retry_s,
                    ) from None
            if out_of_tries:
                raise RetriesExhaustedError(
                    route, attempt, elapsed, self.redact(retry.reason)
                ) from None
            log.warning(
                "CoinCap %s: %s; retry %d/%d in %.1fs%s",
                route,
                self.redact(retry.reason),
                attempt,
                self.settings.max_attempts - 1,
                wait,
                f" (a server that does not answer is tried for {self.settings.unreachable_retry_s:g}"
                " s)"
                if retry.unanswered
                else (" (as its Retry-After asks)" if retry.wait is not None else ""),
            )
            await asyncio.sleep(wait)

    async def _read(self, resp: httpx.Response) -> bytes:
        """The decompressed body, metered. A body cut short is metered at its declared length
        (what the server sent and bills) and retried."""
        try:
            body = await resp.aread()
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.TimeoutException) as exc:
            declared = resp.headers.get("Content-Length", "")
            encoded = "Content-Encoding" in resp.headers
            self.meter.add(int(declared) if declared.isdigit() and not encoded else 0)
            raise Retry(
                f"HTTP {resp.status_code} body truncated after the headers "
                f"({type(exc).__name__}: {self.redact(str(exc))})"
            ) from None
        except httpx.DecodingError as exc:
            self.meter.add(0)
            raise Retry(f"could not decompress the body ({self.redact(str(exc))})") from None
        self.meter.add(len(body))
        return body

    async def _once(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        parse: Callable[[Any, str], T],
        source: str,
        route: str,
        slug: str | None,
    ) -> T:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        async with self._in_flight:
            await self.limiter.acquire()
            sent = time.monotonic()
            try:
                async with self._http.stream("GET", path, params=clean) as resp:
                    body = await self._read(resp)
            except Retry:
                raise
            except httpx.ConnectTimeout:
                raise Retry(
                    f"no answer to connect within {self.settings.connect_timeout_s:g} s",
                    unanswered=True,
                ) from None
            except httpx.TimeoutException as exc:
                raise Retry(f"timed out ({type(exc).__name__})") from None
            except httpx.ConnectError as exc:
                host = urlsplit(self.settings.base_url).hostname
                if unknown_host(exc):
                    raise CoinCapTransportError(
                        f"cannot call {route}: the host of COINCAP_BASE_URL ({host}) does not "
                        "resolve (no such host name). Example: "
                        "COINCAP_BASE_URL=https://rest.coincap.io/v3",
                        retryable=False,
                    ) from None
                raise Retry(no_answer(exc), unanswered=True) from None
            except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                raise Retry(f"connection dropped ({self.redact(str(exc))})") from None
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise CoinCapTransportError(
                    f"cannot call {route}: {self.redact(str(exc))} (check COINCAP_BASE_URL)",
                    retryable=False,
                ) from None
            except httpx.TransportError as exc:
                raise Retry(
                    f"transport error {type(exc).__name__}: {self.redact(str(exc))}"
                ) from None
        log.debug(
            "CoinCap %s -> %d, %d bytes, %.0f ms",
            route,
            resp.status_code,
            len(body),
            (time.monotonic() - sent) * 1000,
        )
        status = resp.status_code
        if status == 200:
            try:
                data = json.loads(body)
            except ValueError:
                raise Retry(
                    f"body is not valid JSON ({len(body)} bytes, truncated or malformed)"
                ) from None
            return parse(data, source)
        detail = self.redact(error_message(body))
        if status in RETRY_STATUSES:
            raise Retry(
                f"HTTP {status}: {detail}", parse_retry_after(resp.headers.get("Retry-After"))
            )
        if status == 401:
            raise AuthError(route, detail)
        if status == 404:
            raise NotFoundError(route, slug, detail)
        if status == 400:
            raise BadRequestError(route, detail)
        if status >= 500:
            raise Retry(f"HTTP {status}: {detail}")
        raise CoinCapTransportError(
            f"CoinCap answered HTTP {status} on {route}: {detail}", retryable=False
        )


__all__ = [
    "CoinCapTransportError",
    "Meter",
    "MeterSnapshot",
    "RateLimiter",
    "Transport",
    "error_message",
    "parse_retry_after",
]
