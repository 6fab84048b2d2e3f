"""How each kind of setting reads: the value types of `Settings` and their parsers.

A variable holds text; these turn it into the typed value or a `ValueError` whose message
`config_messages.describe` puts after the variable's name. The per-exchange settings may name
only the exchanges `CRIPTOPIPE_EXCHANGES` lists; an unknown exchange id fails with CCXT's ids
that are close to it (CCXT itself is imported only on that error path: it takes seconds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo
from pydantic_settings import NoDecode

_OFF = {"off", "none", "unlimited"}


def _off(value: object) -> object:
    """'off' (or none/unlimited/all) means no limit."""
    if isinstance(value, str) and value.strip().lower() in (_OFF | {"all"}):
        return None
    return value


#: credits per month, or None ('off'): the one reading of a budget everywhere
Budget = Annotated[Annotated[int, Field(ge=0)] | None, BeforeValidator(_off)]
#: markets kept per coin, or None ('all')
MarketsPerCoin = Annotated[Annotated[int, Field(ge=1)] | None, BeforeValidator(_off)]


def split_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _pairs(value: object) -> object:
    """'binance=http://a,kraken=http://b' -> {'binance': 'http://a', 'kraken': 'http://b'}."""
    if not isinstance(value, str):
        return value
    out: dict[str, str] = {}
    for part in [p.strip() for p in value.split(",") if p.strip()]:
        key, sep, item = part.partition("=")
        if not sep or not key.strip() or not item.strip():
            raise ValueError(f"{part!r} is not exchange=value")
        out[key.strip().lower()] = item.strip()
    return out


def check_http_url(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError:
        raise ValueError("has a port that is not a number") from None
    return value


def check_postgres_url(raw: str) -> str:
    """A PostgreSQL URL that parses, with a host and a numeric port; the driver's own message
    is never quoted (it may hold the password)."""
    import psycopg

    raw = raw.strip()
    if not raw.startswith(("postgresql://", "postgres://")):
        raise ValueError("must be a postgresql:// URL")
    try:
        parsed = psycopg.conninfo.conninfo_to_dict(raw)
    except psycopg.ProgrammingError:
        raise ValueError(
            "cannot be parsed (a user name or password with characters such as @ : / % "
            "must be percent-encoded, e.g. p%40ss for p@ss)"
        ) from None
    if not parsed.get("host"):
        raise ValueError("has no host")
    if any(not p.isdigit() for p in str(parsed.get("port") or "5432").split(",")):
        raise ValueError("has a port that is not a number")
    if "@" in str(parsed["host"]):  # drivers split at the first '@', parsers at the last
        raise ValueError("holds an unescaped '@' in its user name or password: write it as %40")
    return raw


def check_mongo_uri(raw: str) -> str:
    """A MongoDB URI that parses (without connecting)."""
    from pymongo import errors
    from pymongo.uri_parser import parse_uri

    raw = raw.strip()
    if not raw.startswith(("mongodb://", "mongodb+srv://")):
        raise ValueError("must be a mongodb:// or mongodb+srv:// URI")
    try:
        parse_uri(raw, connect_timeout=1)
    except (errors.InvalidURI, errors.ConfigurationError, ValueError) as exc:
        reason = str(exc).split(". ")[0].rstrip(".")
        raise ValueError(f"cannot be parsed ({reason})") from None
    return raw


def _configured(value: Mapping[str, object], info: ValidationInfo) -> None:
    """Per-exchange settings may name only configured exchanges."""
    exchanges: tuple[str, ...] | None = info.data.get("exchanges")
    if exchanges is None:  # CRIPTOPIPE_EXCHANGES itself is wrong: reported on its own
        return
    extra = sorted(set(value) - set(exchanges))
    if extra:
        raise ValueError(
            f"names {', '.join(extra)}, which CRIPTOPIPE_EXCHANGES ({','.join(exchanges)}) "
            "does not list"
        )


def _exchange_ids(value: object) -> object:
    from criptopipe.sources.exchanges.errors import UnknownExchangeError
    from criptopipe.sources.exchanges.venues import venue

    value = split_list(value)
    if not isinstance(value, list | tuple):
        return value
    ids = [str(v).strip().lower() for v in value]
    if not ids:
        raise ValueError("names no exchange")
    for exchange_id in ids:
        try:
            venue(exchange_id)
        except UnknownExchangeError as exc:
            raise ValueError(str(exc).rstrip(".")) from None
    if len(set(ids)) != len(ids):
        raise ValueError("names an exchange twice")
    return tuple(ids)


def _quotes(value: object) -> object:
    value = split_list(value)
    if isinstance(value, list | tuple):
        quotes = [str(v).strip().upper() for v in value]
        if not quotes or not all(q.isalnum() for q in quotes):
            raise ValueError("must be currency codes, comma-separated")
        return tuple(dict.fromkeys(quotes))
    return value


def _exchange_urls(value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
    _configured(value, info)
    out = {}
    for exchange_id, url in value.items():
        try:
            checked = check_http_url(url)
        except ValueError as exc:
            raise ValueError(f"{exchange_id}: {url!r} {exc}") from None
        if checked is not None:
            out[exchange_id] = checked
    return out


def _rate_limits(value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
    _configured(value, info)
    bad = [k for k, v in value.items() if v <= 0]
    if bad:
        raise ValueError(f"{', '.join(bad)}: a rate limit must be a positive number of ms")
    return value


def _error_above_warning(value: float, info: ValidationInfo) -> float:
    warn = info.data.get("sources_warn_pct")
    if warn is not None and value <= warn:
        raise ValueError(
            f"must be above CRIPTOPIPE_SOURCES_WARN_PCT ({warn:g}): the error threshold is the "
            "wider one"
        )
    return value


#: CCXT ids with candle rules here ('binance,kraken')
ExchangeIds = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_exchange_ids)]
#: quote currencies in order of preference ('USDT,USD')
Quotes = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_quotes)]
#: exchange id -> URL ('binance=http://127.0.0.1:8556/binance,kraken=...')
ExchangeUrls = Annotated[
    dict[str, str], NoDecode, BeforeValidator(_pairs), AfterValidator(_exchange_urls)
]
#: exchange id -> CCXT rateLimit in ms ('binance=50,kraken=1000')
RateLimits = Annotated[
    dict[str, float], NoDecode, BeforeValidator(_pairs), AfterValidator(_rate_limits)
]
#: sources_agree's error threshold, above its warning threshold
ErrorPct = Annotated[float, AfterValidator(_error_above_warning)]
