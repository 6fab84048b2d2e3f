"""Settings: every environment variable criptopipe reads, parsed and validated in one place.

The resources, the CLI, `criptopipe plan`, the sensors and the dashboard all read the same
`Settings`, so a plan and the in-run budget guard can never disagree and a bad value fails the
same way everywhere: one line naming the variable, what is wrong and a good example. Nothing
is read at import time: each consumer calls `settings()` once and keeps what it got.

Per-run overrides (the Dagster launchpad, run config) live on the resources; what they leave
unset comes from here. `criptopipe/local/` reads the variables of the local tooling itself
(ports, the PostgreSQL binaries), which the pipeline never sees.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Annotated

from pydantic import (
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from criptopipe.config_fields import (
    Budget,
    ErrorPct,
    ExchangeIds,
    ExchangeUrls,
    MarketsPerCoin,
    Quotes,
    RateLimits,
    check_http_url,
    check_mongo_uri,
    check_postgres_url,
    split_list,
)
from criptopipe.config_messages import (
    DEFAULT_BASE_URL,
    DEFAULT_CREDIT_BUDGET,
    DEFAULT_DAGSTER_UI_URL,
    DEFAULT_EXCHANGES,
    DEFAULT_HISTORY_SPAN_DAYS,
    DEFAULT_MARKETS_PER_COIN,
    DEFAULT_NEW_COIN_LOOKBACK_DAYS,
    DEFAULT_QUOTE_PREFERENCE,
    DEFAULT_SCHEMA,
    DEFAULT_SNAPSHOT_GRACE_HOURS,
    DEFAULT_SNAPSHOT_START,
    DEFAULT_SOURCES_ERROR_PCT,
    DEFAULT_SOURCES_WARN_PCT,
    DEFAULT_TOP_N,
    describe,
)
from criptopipe.storage.errors import url_secrets

#: a PostgreSQL identifier we create without quoting surprises
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
#: CoinCap ids are lowercase slugs: 'bitcoin', 'usd-coin', 'crypto-com-coin'
COIN_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


class ConfigError(ValueError):
    """A setting is missing or malformed: a retry cannot fix it. The message is one line."""

    retryable = False


class DefinitionSettings(BaseSettings):
    """What the Dagster definitions are built from, read once when a code location loads them
    (`criptopipe/definitions.py`), so a change needs a reload; everything else is read per run
    (`Settings`, which includes these)."""

    model_config = SettingsConfigDict(
        env_ignore_empty=True, extra="ignore", frozen=True, populate_by_name=True
    )

    #: the first day `raw_assets` / `market_snapshots` partitions exist: CoinCap serves snapshots
    #: live only, so no day before the archive's first can ever be filled
    snapshot_start: date = Field(default=DEFAULT_SNAPSHOT_START, alias="CRIPTOPIPE_SNAPSHOT_START")
    #: whether COINCAP_API_KEY is set at all (its value is read per run, never kept here)
    coincap_api_key: SecretStr | None = Field(default=None, alias="COINCAP_API_KEY")

    @field_validator("snapshot_start")
    @classmethod
    def _closed_day(cls, value: date) -> date:
        if value >= datetime.now(timezone.utc).date():
            raise ValueError("must be a UTC day that has closed (yesterday or earlier)")
        return value

    @classmethod
    def load(cls) -> DefinitionSettings:
        """The environment's settings, or a ConfigError naming each bad variable in one line."""
        try:
            return cls()
        except ValidationError as exc:
            raise ConfigError(describe(exc)) from None


class Settings(DefinitionSettings):
    """The environment, typed. Field aliases are the variable names users set."""

    coincap_api_key: SecretStr | None = Field(default=None, alias="COINCAP_API_KEY")
    coincap_base_url: str = Field(default=DEFAULT_BASE_URL, alias="COINCAP_BASE_URL")
    database_url: SecretStr | None = Field(default=None, alias="DATABASE_URL")
    mongodb_uri: SecretStr | None = Field(default=None, alias="MONGODB_URI")
    dashboard_database_url: SecretStr | None = Field(default=None, alias="DASHBOARD_DATABASE_URL")
    dashboard_mongodb_uri: SecretStr | None = Field(default=None, alias="DASHBOARD_MONGODB_URI")
    pg_schema: str = Field(default=DEFAULT_SCHEMA, alias="CRIPTOPIPE_PG_SCHEMA")
    coins: Annotated[list[str], NoDecode] = Field(default_factory=list, alias="CRIPTOPIPE_COINS")
    top_n: int = Field(default=DEFAULT_TOP_N, ge=1, alias="CRIPTOPIPE_TOP_N")
    credit_budget: Budget = Field(default=DEFAULT_CREDIT_BUDGET, alias="COINCAP_CREDIT_BUDGET")
    history_span_days: int = Field(
        default=DEFAULT_HISTORY_SPAN_DAYS, ge=1, le=3650, alias="CRIPTOPIPE_HISTORY_SPAN_DAYS"
    )
    markets_per_coin: MarketsPerCoin = Field(
        default=DEFAULT_MARKETS_PER_COIN, alias="CRIPTOPIPE_MARKETS_PER_COIN"
    )
    snapshot_grace_hours: float = Field(
        default=DEFAULT_SNAPSHOT_GRACE_HOURS, gt=0, le=24, alias="CRIPTOPIPE_SNAPSHOT_GRACE_HOURS"
    )
    alert_webhook_url: str | None = Field(default=None, alias="CRIPTOPIPE_ALERT_WEBHOOK_URL")
    #: the Dagster UI as people open it: alerts link to <it>/runs/<run id>
    dagster_ui_url: str = Field(default=DEFAULT_DAGSTER_UI_URL, alias="CRIPTOPIPE_DAGSTER_UI_URL")
    new_coin_lookback_days: int = Field(
        default=DEFAULT_NEW_COIN_LOOKBACK_DAYS, ge=1, alias="CRIPTOPIPE_NEW_COIN_LOOKBACK_DAYS"
    )
    #: CCXT exchange ids whose daily candles `exchange_candles` loads (validated against CCXT)
    exchanges: ExchangeIds = Field(default=DEFAULT_EXCHANGES, alias="CRIPTOPIPE_EXCHANGES")
    #: quote currencies in order of preference when a coin trades against several
    quote_preference: Quotes = Field(
        default=DEFAULT_QUOTE_PREFERENCE, alias="CRIPTOPIPE_QUOTE_PREFERENCE"
    )
    #: exchange id -> root URL of a stand-in (the exchange sandbox); unset: the real exchange
    exchange_urls: ExchangeUrls = Field(default_factory=dict, alias="CRIPTOPIPE_EXCHANGE_URLS")
    #: exchange id -> CCXT rateLimit (ms per unit of endpoint cost); unset: CCXT's own
    exchange_rate_limit_ms: RateLimits = Field(
        default_factory=dict, alias="CRIPTOPIPE_EXCHANGE_RATE_LIMIT_MS"
    )
    sources_warn_pct: float = Field(
        default=DEFAULT_SOURCES_WARN_PCT, gt=0, le=100, alias="CRIPTOPIPE_SOURCES_WARN_PCT"
    )
    sources_error_pct: ErrorPct = Field(
        default=DEFAULT_SOURCES_ERROR_PCT, gt=0, le=100, alias="CRIPTOPIPE_SOURCES_ERROR_PCT"
    )

    @field_validator("coincap_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        checked = check_http_url(value)
        assert checked is not None
        return checked

    @field_validator("alert_webhook_url", "dagster_ui_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        return check_http_url(value)

    @field_validator("database_url", "dashboard_database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None else SecretStr(check_postgres_url(value.get_secret_value()))

    @field_validator("mongodb_uri", "dashboard_mongodb_uri")
    @classmethod
    def _mongo_uri(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None else SecretStr(check_mongo_uri(value.get_secret_value()))

    @field_validator("pg_schema")
    @classmethod
    def _schema(cls, value: str) -> str:
        if not SCHEMA_NAME.match(value):
            raise ValueError(
                "must be a lowercase PostgreSQL name: a letter or _, then letters, digits or _"
                " (at most 63)"
            )
        return value

    @field_validator("coins", mode="before")
    @classmethod
    def _coins(cls, value: object) -> object:
        value = split_list(value)
        if isinstance(value, list):
            bad = [c for c in value if not isinstance(c, str) or not COIN_ID.match(c)]
            if bad:
                raise ValueError(
                    f"{', '.join(repr(b) for b in bad[:3])} is not a CoinCap id (lowercase "
                    "letters, digits, '-', '.' or '_')"
                )
            return list(dict.fromkeys(value))
        return value

    # ------------------------------------------------------------------ accessors

    def api_key(self) -> str | None:
        return self.coincap_api_key.get_secret_value() if self.coincap_api_key else None

    def secrets(self) -> tuple[str, ...]:
        """Every secret these settings hold, in each form a message might quote it (the
        passwords of the database URLs, parsed or not; the key; the webhook URL, which is a
        credential for Slack): what is scrubbed from anything that reaches a log."""
        found: list[str] = []
        for url in (
            self.database_url,
            self.dashboard_database_url,
            self.mongodb_uri,
            self.dashboard_mongodb_uri,
        ):
            if url is not None:
                found += url_secrets(url.get_secret_value())
        if self.coincap_api_key is not None:
            found.append(self.coincap_api_key.get_secret_value())
        if self.alert_webhook_url:
            found.append(self.alert_webhook_url)
        return tuple(dict.fromkeys(s for s in found if s))

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise ConfigError(
                "DATABASE_URL is not set: export DATABASE_URL=postgresql://user:password@host:"
                "5432/db, or use `make run` / `make dev`, which start a local PostgreSQL and set "
                "it for you."
            )
        return self.database_url.get_secret_value()

    def require_mongodb_uri(self) -> str:
        if self.mongodb_uri is None:
            raise ConfigError(
                "MONGODB_URI is not set: export MONGODB_URI=mongodb://host:27017/criptopipe, or "
                "use `make run` / `make dev`, which start a local MongoDB-compatible server and "
                "set it for you."
            )
        return self.mongodb_uri.get_secret_value()

    def reader_database_url(self) -> str | None:
        """Where the dashboard reads PostgreSQL: its read-only role when configured (`make run`
        and compose do), else the warehouse URL."""
        url = self.dashboard_database_url or self.database_url
        return url.get_secret_value() if url is not None else None

    def reader_mongodb_uri(self) -> str | None:
        """Where the dashboard reads MongoDB: its read-only user when configured."""
        uri = self.dashboard_mongodb_uri or self.mongodb_uri
        return uri.get_secret_value() if uri is not None else None

    @classmethod
    def load(cls) -> Settings:
        """The environment's settings, or a ConfigError naming each bad variable in one line."""
        try:
            return cls()
        except ValidationError as exc:
            raise ConfigError(describe(exc)) from None


def parse_budget(raw: str, name: str = "COINCAP_CREDIT_BUDGET") -> int | None:
    """A budget given on a command line, read exactly as the variable is."""
    try:
        return TypeAdapter(Budget).validate_python(raw)
    except ValidationError as exc:
        reason = str(exc.errors()[0]["msg"])
        raise ConfigError(
            f"{name}={raw!r}: {reason}. Example: 2500 (credits per month) or off"
        ) from None


def definition_settings() -> DefinitionSettings:
    """The variables the Dagster definitions depend on, read now: only when a code location
    loads them, never at import."""
    return DefinitionSettings.load()


def settings() -> Settings:
    """The environment's settings, read now (never at import). Each consumer reads them once and
    keeps them: a command for its run, a resource for its run, the dashboard per page render."""
    return Settings.load()
