"""Storage errors with messages that say what to do, and never contain a password."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit


class StorageError(RuntimeError):
    """Base of every storage failure. `retryable`: whether trying again later may help."""

    retryable = False


class StorageUnavailableError(StorageError):
    """The server cannot be reached (down, wrong host/port, firewall) within the timeout."""

    retryable = True


class StorageConfigError(StorageError):
    """The server answered and said the settings are wrong (unknown database, host or role, a
    URL it cannot use): the same settings fail the same way on every retry."""


class StorageAuthError(StorageConfigError):
    """The server refused the credentials."""


class StorageUnreachableError(StorageError):
    """Nothing answered at the address for as long as a connection check kept trying (a few
    seconds: long enough for a server that is restarting). A server down for longer, or a wrong
    host or port, needs a person, not a step retry minutes later."""


@dataclass(frozen=True)
class WriteResult:
    rows_written: int
    rows_deleted: int
    seconds: float


_USERINFO = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@?#]*):[^/?#]*@")
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)[^&#]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """The URL with its password replaced by ***.

    Works on the text rather than a parsed URL, so a malformed URL (a bad port, several hosts
    as in MongoDB seed lists) is redacted too instead of leaking or raising.
    """
    url = _USERINFO.sub(r"\g<head>:***@", url, count=1)
    return _QUERY_PASSWORD.sub(r"\g<head>***", url)


#: `scheme://user:password@` anywhere in a text (a driver's message quoting a URL)
_USERINFO_ANYWHERE = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*):[^\s@]*@")
_QUERY_PASSWORD_VALUE = re.compile(r"[?&]password=([^&#\s]+)", re.IGNORECASE)
#: a fragment of a password shorter than this is not looked for on its own
_MIN_FRAGMENT = 3


def url_secrets(url: str | None) -> tuple[str, ...]:
    """Every form in which a URL's password may show up in a message: as written, percent-
    decoded, and (for a password holding an unescaped '@', which drivers split at the first
    '@' and URL parsers at the last) its pieces. Read from the text, so a URL no parser accepts
    (`postgresql://u:p%zz@host/db`, the case where drivers quote the password back) still
    yields its password."""
    if not url:
        return ()
    found: list[str] = []
    _, sep, rest = url.partition("://")
    if sep and "@" in rest:
        for userinfo in (rest.rsplit("@", 1)[0], rest.split("@", 1)[0]):
            _, colon, password = userinfo.partition(":")
            if colon and password:
                found += [password, unquote(password), unquote_plus(password)]
                found += [p for p in password.split("@") if len(p) >= _MIN_FRAGMENT]
    found += _QUERY_PASSWORD_VALUE.findall(url)
    return tuple(dict.fromkeys(s for s in found if s))


def scrub(text: str, *secrets: str | None) -> str:
    """`text` without any of `secrets`, password=... pairs or `user:password@` in URLs."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _USERINFO_ANYWHERE.sub(r"\g<head>:***@", text)
    return re.sub(r"(password=)\S+", r"\1***", text)


def chain_holds(exc: BaseException, secrets: Iterable[str]) -> bool:
    """Whether `exc`, or any exception it was raised from or while handling (what Dagster
    serializes into the event log along with it), has one of `secrets` in its text."""
    wanted = [s for s in secrets if s]
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        text = f"{current} {current.args!r}"
        if any(s in text for s in wanted):
            return True
        todo.append(current.__cause__)
        if not current.__suppress_context__:
            todo.append(current.__context__)
    return False


def host_port(url: str, default_port: int) -> str:
    """`host:port` of a single-host URL, for messages (the raw netloc if the port is malformed)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return parts.netloc.rpartition("@")[2] or "localhost"
    return f"{parts.hostname or 'localhost'}:{port or default_port}"


class DuplicateKeysError(StorageError):
    """The rows to write hold the same natural key more than once."""


def refuse_duplicate_keys(key: tuple[str, ...], frame: Any) -> None:
    """Refuse a frame with repeated natural keys before either store is touched.

    PostgreSQL would reject it half-way (primary key) while MongoDB would keep the last copy
    (upsert by `_id`): checking first keeps the stores in agreement and names the culprits.
    """
    if len(frame) < 2:
        return
    repeated = frame.duplicated(subset=list(key), keep=False)
    if not bool(repeated.any()):
        return
    rows = frame.loc[repeated, list(key)]
    sample = sorted({tuple(str(v) for v in row) for row in rows.itertuples(index=False)})[:5]
    raise DuplicateKeysError(
        f"{len(rows)} row(s) share a natural key ({', '.join(key)}) with another row; e.g. "
        f"{sample}. Each key must appear once per write: deduplicate the frame."
    )
