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


def redact_url(url: str) -> str:
    """The URL with its password replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password:
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        netloc = f"{parts.username}:***@{host}{port}"
        return parts._replace(netloc=netloc).geturl()
    return url


def scrub(text: str, *secrets: str | None) -> str:
    """`text` without any of `secrets` and without password=... pairs."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return re.sub(r"(password=)\S+", r"\1***", text)


def host_port(url: str, default_port: int) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or default_port}"
