"""What a bad setting looks like to the person who set it: one line per problem, naming the
variable, saying what is wrong and showing a good value, with passwords and keys hidden."""

from __future__ import annotations

from datetime import date

from pydantic import SecretStr, ValidationError

from criptopipe.storage.errors import redact_url

DEFAULT_BASE_URL = "https://rest.coincap.io/v3"
DEFAULT_SCHEMA = "coincap"
DEFAULT_TOP_N = 10
DEFAULT_MARKETS_PER_COIN = 25
DEFAULT_SNAPSHOT_GRACE_HOURS = 24.0
#: CoinCap's free tier (2025): runs refuse to start when their estimate exceeds what is left
DEFAULT_CREDIT_BUDGET = 2500
DEFAULT_HISTORY_SPAN_DAYS = 365
DEFAULT_NEW_COIN_LOOKBACK_DAYS = 365
DEFAULT_DAGSTER_UI_URL = "http://localhost:3000"
#: the first day snapshot partitions exist when CRIPTOPIPE_SNAPSHOT_START is unset: CoinCap v3
#: opened in early 2025, so no v3 snapshot (live only, never served later) can be older. Set the
#: variable to the first day your archive holds (`make run` does it for the local archive).
DEFAULT_SNAPSHOT_START = date(2025, 1, 1)
DEFAULT_EXCHANGES = ("binance", "kraken")
DEFAULT_QUOTE_PREFERENCE = ("USDT", "USD")
#: sources_agree: a warning when the day's prices spread wider than this (%), an error when one
#: price lies further than the second from their median (%)
DEFAULT_SOURCES_WARN_PCT = 2.0
DEFAULT_SOURCES_ERROR_PCT = 10.0

#: a good value of each variable, for error messages
EXAMPLES = {
    "COINCAP_API_KEY": "<your key from https://pro.coincap.io/dashboard>",
    "COINCAP_BASE_URL": DEFAULT_BASE_URL,
    "DATABASE_URL": "postgresql://user:password@localhost:5432/criptopipe",
    "MONGODB_URI": "mongodb://localhost:27017/criptopipe",
    "DASHBOARD_DATABASE_URL": "postgresql://criptopipe_reader:password@localhost:5432/criptopipe",
    "DASHBOARD_MONGODB_URI": "mongodb://reader:password@localhost:27017/criptopipe",
    "CRIPTOPIPE_DAGSTER_UI_URL": DEFAULT_DAGSTER_UI_URL,
    "CRIPTOPIPE_PG_SCHEMA": DEFAULT_SCHEMA,
    "CRIPTOPIPE_COINS": "bitcoin,ethereum",
    "CRIPTOPIPE_TOP_N": str(DEFAULT_TOP_N),
    "COINCAP_CREDIT_BUDGET": f"{DEFAULT_CREDIT_BUDGET} (or off)",
    "CRIPTOPIPE_HISTORY_SPAN_DAYS": str(DEFAULT_HISTORY_SPAN_DAYS),
    "CRIPTOPIPE_MARKETS_PER_COIN": f"{DEFAULT_MARKETS_PER_COIN} (or all)",
    "CRIPTOPIPE_SNAPSHOT_GRACE_HOURS": f"{DEFAULT_SNAPSHOT_GRACE_HOURS:g}",
    "CRIPTOPIPE_ALERT_WEBHOOK_URL": "https://hooks.slack.com/services/...",
    "CRIPTOPIPE_NEW_COIN_LOOKBACK_DAYS": str(DEFAULT_NEW_COIN_LOOKBACK_DAYS),
    "CRIPTOPIPE_SNAPSHOT_START": f"{DEFAULT_SNAPSHOT_START} (the first day your archive holds)",
    "CRIPTOPIPE_EXCHANGES": ",".join(DEFAULT_EXCHANGES),
    "CRIPTOPIPE_QUOTE_PREFERENCE": ",".join(DEFAULT_QUOTE_PREFERENCE),
    "CRIPTOPIPE_EXCHANGE_URLS": "binance=http://127.0.0.1:8556/binance,"
    "kraken=http://127.0.0.1:8556/kraken",
    "CRIPTOPIPE_EXCHANGE_RATE_LIMIT_MS": "binance=50,kraken=1000",
    "CRIPTOPIPE_SOURCES_WARN_PCT": f"{DEFAULT_SOURCES_WARN_PCT:g}",
    "CRIPTOPIPE_SOURCES_ERROR_PCT": f"{DEFAULT_SOURCES_ERROR_PCT:g}",
}


def describe(exc: ValidationError) -> str:
    """One line per problem, joined: the variable, its value (secrets hidden), what is wrong
    and an example of a good value."""
    problems = []
    for err in exc.errors():
        alias = str(err["loc"][0]) if err["loc"] else "?"
        message = str(err["msg"]).removeprefix("Value error, ")
        example = f" Example: {alias}={EXAMPLES[alias]}" if alias in EXAMPLES else ""
        problems.append(f"{alias}{_shown(alias, err.get('input'))} {message}.{example}")
    return " | ".join(problems)


def _shown(alias: str, value: object) -> str:
    if value is None or isinstance(value, dict):
        return ""
    if alias in ("COINCAP_API_KEY",):
        return " (value hidden)"
    text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    if alias in ("DATABASE_URL", "DASHBOARD_DATABASE_URL", "MONGODB_URI", "DASHBOARD_MONGODB_URI"):
        text = hide_userinfo(text)
    return f"={text!r}"


def hide_userinfo(url: str) -> str:
    """`scheme://***@host/...`: everything before the last '@' hidden, however malformed the
    URL (a password holding '/', '#' or a bad percent-escape defeats URL parsers)."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return redact_url(url)
    return f"{scheme}{sep}***@{rest.rsplit('@', 1)[1]}"
