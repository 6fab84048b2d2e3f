"""How PostgreSQL's errors become storage errors: classified once, never with the password.

A connection error is sorted by what the server (or libpq) said: settings it refused (wrong
credentials, an unknown database or host, a URL libpq cannot read, something that is not
PostgreSQL at that port) are `StorageConfigError`s that no retry fixes; a server that did not
answer, is starting up or dropped the connection is `StorageUnavailableError`, which may pass.
Every message names the variable the URL came from and is scrubbed of the URL's password in
every form libpq may quote it (it quotes the raw token of a bad percent-escape).
"""

from __future__ import annotations

import psycopg

from criptopipe.storage.errors import (
    StorageAuthError,
    StorageConfigError,
    StorageError,
    StorageUnavailableError,
    host_port,
    redact_url,
    scrub,
    url_secrets,
)

#: what a connection error says when the server answered and refused the login
_AUTH = ("password authentication failed", "authentication failed", "no password supplied")
#: ... when libpq could not use a value of the URL (a port that is not a number, an option)
_BAD_VALUE = ("invalid integer value", "invalid connection option", "invalid sslmode value")
#: ... when something answered that is not a PostgreSQL server, or refused the URL's options
_NOT_POSTGRES = ("invalid response to SSL negotiation", "SSL was required", "unsupported frontend")


def pg_secrets(url: str) -> tuple[str, ...]:
    """The password in every form a driver message may quote it, parsed or not: psycopg's
    `invalid percent-encoded token: "<password>"` comes exactly from the URLs no parser reads."""
    secrets = list(url_secrets(url))
    try:
        parsed = psycopg.conninfo.conninfo_to_dict(url).get("password")
    except psycopg.ProgrammingError:
        parsed = None
    if isinstance(parsed, str) and parsed:
        secrets.append(parsed)
    return tuple(dict.fromkeys(secrets))


def server_said(message: str) -> str:
    """The part of a libpq connection error that says what happened: `password authentication
    failed for user "me"` out of `connection failed: connection to server at "h", port 5432
    failed: FATAL:  password authentication failed for user "me"`."""
    first = message.strip().splitlines()[0]
    if "FATAL:" in first:
        return first.split("FATAL:", 1)[1].strip()
    return first.rsplit(" failed: ", 1)[-1].strip()


def connect_failure(
    exc: Exception, url: str, variable: str, secrets: tuple[str, ...], timeout_s: int
) -> StorageError:
    """A connection error as what callers act on: settings the server refused (never
    retried), or a server that did not answer or dropped the connection (may pass later)."""
    where, var = host_port(url, 5432), variable
    raw = str(exc).strip()
    text = scrub(server_said(raw) if raw else repr(exc), *secrets)
    if any(marker in raw for marker in _BAD_VALUE):
        return StorageConfigError(f"{var} holds a value libpq cannot use: {text}.")
    if isinstance(exc, psycopg.ProgrammingError):  # the URL itself: libpq could not read it
        return StorageConfigError(
            f"{var} cannot be parsed ({text}): a user name or password with characters such "
            "as @ : / % must be percent-encoded, e.g. p%40ss for p@ss."
        )
    if any(marker in raw for marker in _AUTH) or ("role " in raw and "does not exist" in raw):
        return StorageAuthError(
            f"PostgreSQL at {where} refused the credentials in {var} ({redact_url(url)}): "
            f"wrong user or password. {text}"
        )
    if "database " in raw and "does not exist" in raw:
        return StorageConfigError(
            f"PostgreSQL at {where} has no database {_database(url)!r}, the one {var} names "
            "after the host: create it or fix the URL's path."
        )
    if "failed to resolve host" in raw or "could not translate host name" in raw:
        if "@" in url.partition("://")[2].rsplit("@", 1)[0]:
            return StorageConfigError(
                f"the user name or password in {var} holds an unescaped '@', so the host is "
                "read from the middle of it: write each @ in them as %40."
            )
        if "Temporary failure" not in raw:  # a DNS outage may pass; an unknown name does not
            return StorageConfigError(
                f"the host of {var} ({where.rpartition(':')[0]}) does not resolve: no such "
                "host name. Check its spelling."
            )
    if any(marker in raw for marker in _NOT_POSTGRES):
        return StorageConfigError(
            f"what answers at {where} ({var}) is not a PostgreSQL server that takes this URL: "
            f"{text}"
        )
    return StorageUnavailableError(
        f"cannot reach PostgreSQL at {where} (gave up after {timeout_s}s): {text}. Is the "
        f"server running and {var} right? `make run` starts a local one."
    )


def server_failure(
    exc: psycopg.Error, url: str, secrets: tuple[str, ...], doing: str = ""
) -> StorageError:
    """Any other server error (bad data, constraint, permission) with the server's context."""
    lines = str(exc).strip().splitlines()
    detail = lines[0] if lines else repr(exc)
    if exc.diag.context:
        detail += f" ({exc.diag.context.strip().splitlines()[0]})"
    where = host_port(url, 5432)
    return StorageError(
        scrub(f"PostgreSQL at {where}{': ' + doing if doing else ''} failed: {detail}", *secrets)
    )


def _database(url: str) -> str:
    try:
        return str(psycopg.conninfo.conninfo_to_dict(url).get("dbname") or "")
    except psycopg.ProgrammingError:
        return ""
