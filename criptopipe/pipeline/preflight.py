"""Checks made once, before any work, so bad configuration fails in seconds and in one line.

`Settings` already validates the form of every variable (URLs, schema and coin grammar, number
ranges). What only a server can answer is checked here: each store is reached with one
connection and a short timeout, and the answer is sorted once:

- the server answered and refused the settings (credentials, an unknown database or host, a URL
  the driver cannot read, something that is not that server): a `ConfigError` at once, naming
  the variable, what is wrong and a good value. No retry can fix it;
- nothing answered (connection refused, no answer within the timeout, a server starting up):
  tried again for `UNREACHABLE_SECONDS`, long enough for a server that is restarting, saying so
  once; then `UnreachableError`. A server down for longer, or a wrong host or port, needs a
  person rather than step retries minutes later.

A partition range given backwards is refused here too. The callers (the Dagster resources, the
CLI, the dashboard) turn these errors into a failure without retries, a one-line message or a
line on the page. No Dagster here.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from datetime import date

from criptopipe.config import COIN_ID, ConfigError, Settings
from criptopipe.config_messages import DEFAULT_TOP_N, EXAMPLES
from criptopipe.storage.errors import StorageError, StorageUnavailableError, host_port
from criptopipe.storage.mongo import MongoStore
from criptopipe.storage.postgres import PostgresStore

#: how long a store that does not answer at all is tried again before the run fails
UNREACHABLE_SECONDS = 5.0
#: each connection attempt's own timeout (libpq's minimum is 2 s)
CONNECT_TIMEOUT_S = 2
_PAUSE_S = 0.5

Say = Callable[[str], None]


class UnreachableError(ConfigError):
    """Nothing answered at a store's address while the check kept trying: start the server or
    fix the host and port. Not retried further (see the module docstring)."""


def postgres(
    store: PostgresStore, retry_s: float = UNREACHABLE_SECONDS, say: Say | None = None
) -> None:
    """PostgreSQL answers at the store's URL, takes its credentials and has its database."""
    where = host_port(store.url, 5432)
    _until_answered(
        lambda: store.check(timeout_s=CONNECT_TIMEOUT_S),
        store.variable,
        f"PostgreSQL at {where}",
        retry_s,
        say,
    )


def mongo(store: MongoStore, retry_s: float = UNREACHABLE_SECONDS, say: Say | None = None) -> None:
    """MongoDB answers a ping at the store's URI (logging in when it carries credentials). An
    unknown host fails at once: pymongo itself would keep trying a name that never resolves."""
    for host, _ in store.nodes:
        if not host.endswith(".sock"):
            _resolves(host, store.variable)
    _until_answered(
        lambda: store.check(timeout_ms=CONNECT_TIMEOUT_S * 1000),
        store.variable,
        f"MongoDB at {', '.join(f'{h}:{p}' for h, p in store.nodes)}",
        retry_s,
        say,
    )


def stores(settings: Settings, say: Say | None = None) -> None:
    """Both stores of `settings` answer, take their credentials and have their database, before
    a command does anything (a ConfigError otherwise, one line)."""
    postgres(PostgresStore(settings.require_database_url(), schema=settings.pg_schema), say=say)
    store = MongoStore(settings.require_mongodb_uri())
    try:
        mongo(store, say=say)
    finally:
        store.close()


def partition_range(first: str, last: str) -> None:
    """A `--partition-range FIRST...LAST` whose days are in order. Dagster accepts a reversed
    range and runs it as an empty window; here it is refused in one line."""
    try:
        reversed_ = date.fromisoformat(last) < date.fromisoformat(first)
    except ValueError:
        reversed_ = last < first
    if reversed_:
        raise ConfigError(
            f"--partition-range {first}...{last} is reversed: its first day {first} comes after "
            f"its last day {last}. Example: --partition-range {last}...{first}"
        )


def universe(coins: list[str], top_n: int, where: str) -> None:
    """Coins and N set in the launchpad or run config, held to the variables' rules."""
    bad = [c for c in coins if not COIN_ID.match(c)]
    if bad:
        raise ConfigError(
            f"{where}: {', '.join(repr(b) for b in bad[:3])} is not a CoinCap id (lowercase "
            "letters, digits, '-', '.' or '_'). Example: ['bitcoin', 'ethereum']"
        )
    if top_n < 1:
        raise ConfigError(f"top_n={top_n} must be 1 or more. Example: {DEFAULT_TOP_N}")


def _until_answered(
    check: Callable[[], None], variable: str, what: str, retry_s: float, say: Say | None
) -> None:
    example = _example(variable)
    started = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        try:
            check()
            return
        except StorageUnavailableError as exc:
            waited = time.monotonic() - started
            if waited + _PAUSE_S >= retry_s:
                tried = (
                    f"tried for {max(waited, retry_s):.0f} s ({attempts} attempts)"
                    if attempts > 1
                    else "one attempt"
                )
                raise UnreachableError(
                    f"{variable}: nothing answers as {what} ({_reason(exc)}); {tried}, not "
                    f"retried further. Start the server, or fix the host and port.{example}"
                ) from None
            if attempts == 1 and say is not None:
                say(
                    f"{variable}: {what} does not answer ({_reason(exc)}); trying again for up "
                    f"to {retry_s:g} s (a server that is restarting)"
                )
        except StorageError as exc:  # it answered: the settings are what is wrong
            raise ConfigError(f"{str(exc).rstrip('.')}.{example}") from None
        time.sleep(_PAUSE_S)


def _reason(exc: StorageError) -> str:
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "starting up" in text or "shutting down" in text or "recovery" in text:
        return "the server is starting or stopping"
    if "timeout" in text or "timed out" in text:
        return "no answer within the timeout"
    return str(exc).split(": ", 1)[-1][:160]


def _resolves(host: str, variable: str) -> None:
    try:
        socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:  # the resolver itself is out: that may pass
            return
        raise ConfigError(
            f"{variable}: the host {host!r} does not resolve (no such host name); check its "
            f"spelling.{_example(variable)}"
        ) from None


def _example(variable: str) -> str:
    return f" Example: {variable}={EXAMPLES[variable]}" if variable in EXAMPLES else ""
