"""Storage errors with messages that say what to do, and never contain a password."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class StorageError(RuntimeError):
    """Base of every storage failure. `retryable`: whether trying again later may help."""

    retryable = False


class StorageUnavailableError(StorageError):
    """The server cannot be reached (down, wrong host/port, firewall) within the timeout."""

    retryable = True


class StorageAuthError(StorageError):
    """The server refused the credentials."""


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


def scrub(text: str, *secrets: str | None) -> str:
    """`text` without any of `secrets` and without password=... pairs."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return re.sub(r"(password=)\S+", r"\1***", text)


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
