"""Storage errors with messages that say what to do, and never contain a password."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit


class StorageError(RuntimeError):
    """Base of every storage failure."""


class StorageUnavailableError(StorageError):
    """The server cannot be reached (down, wrong host/port, firewall) within the timeout."""


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
