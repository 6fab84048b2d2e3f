"""Typed CoinCap errors whose messages say what happened and what to do.

`retryable` tells callers (e.g. a Dagster retry policy) whether trying again later may help.
No message ever contains the API key: the transport redacts it before building one.
"""

from __future__ import annotations


class CoinCapError(Exception):
    retryable: bool = False


class MissingApiKeyError(CoinCapError):
    def __init__(self, base_url: str) -> None:
        super().__init__(
            f"COINCAP_API_KEY is not set, and {base_url} is CoinCap itself, which refuses every "
            "call without a key. Get a free key at https://pro.coincap.io/dashboard and "
            "`export COINCAP_API_KEY=...`, or run against the bundled sandbox: `make run` does "
            "that when no key is set, or start `criptopipe-sandbox --port 8555` and "
            "`export COINCAP_BASE_URL=http://127.0.0.1:8555/v3`."
        )


class AuthError(CoinCapError):
    def __init__(self, route: str, detail: str) -> None:
        super().__init__(
            f"CoinCap refused the API key (401) on {route}: {detail}. Check COINCAP_API_KEY "
            "(copy it again from https://pro.coincap.io/dashboard; keys are revoked when "
            "regenerated)."
        )


class NotFoundError(CoinCapError):
    def __init__(self, route: str, slug: str | None, detail: str) -> None:
        self.slug = slug
        what = f"no asset with id {slug!r}" if slug else "not found"
        super().__init__(
            f"CoinCap answered 404 on {route}: {what} ({detail}). Coin ids are CoinCap slugs "
            "such as 'bitcoin' or 'binance-coin'; search them with GET /assets?search=<name>."
        )


class BadRequestError(CoinCapError):
    def __init__(self, route: str, detail: str) -> None:
        self.detail = detail
        super().__init__(f"CoinCap rejected the request (400) on {route}: {detail}")


class RetriesExhaustedError(CoinCapError):
    retryable = True

    def __init__(self, route: str, attempts: int, seconds: float, last: str) -> None:
        self.attempts, self.seconds = attempts, seconds
        super().__init__(
            f"CoinCap kept failing on {route}: gave up after {attempts} attempt(s) over "
            f"{seconds:.1f}s; last error: {last}. CoinCap may be down or rate limiting this "
            "key (600 calls/minute, credits per month): retry later, or lower calls_per_minute."
        )


class MalformedResponseError(CoinCapError):
    def __init__(self, route: str, field: str, value: object, why: str) -> None:
        self.route, self.field, self.value = route, field, value
        shown = repr(value)
        if len(shown) > 200:
            shown = shown[:200] + "..."
        super().__init__(
            f"CoinCap sent a malformed body on {route}: field {field!r} = {shown}: {why}. "
            "The API may have changed shape; the raw response was not stored."
        )


class CoinCapTransportError(CoinCapError):
    """A call that could not be made or got an answer no rule covers (a bad base URL, an
    unexpected HTTP status). Retryable only when the caller says so."""

    retryable = True

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class CoinCapUnreachableError(CoinCapError):
    """Nothing answered at the base URL (connection refused, no answer to connect) while the
    transport kept trying. A retry may fix that (a server restarting), but only soon: the step
    is retried `STEP_RETRIES` times, `STEP_WAIT_S` apart, then fails, and the message says so."""

    retryable = True
    STEP_RETRIES = 2
    STEP_WAIT_S = 10.0

    def __init__(
        self, base_url: str, route: str, attempts: int, seconds: float, reason: str, window: float
    ) -> None:
        #: (retries, seconds apart) for the step that met it
        self.retry_limit = (self.STEP_RETRIES, self.STEP_WAIT_S)
        total = (self.STEP_RETRIES + 1) * window + self.STEP_RETRIES * self.STEP_WAIT_S
        super().__init__(
            f"CoinCap does not answer at {base_url} ({reason}) on {route}: tried {attempts} "
            f"time(s) over {seconds:.0f} s. The step is retried at most {self.STEP_RETRIES} "
            f"times, {self.STEP_WAIT_S:g} s apart (about {total:.0f} s in all), then fails: "
            "check COINCAP_BASE_URL (example: COINCAP_BASE_URL=https://rest.coincap.io/v3, or "
            "the sandbox's http://127.0.0.1:8555/v3) and that the server is up."
        )
