"""Exchanges source settings: which exchanges, which quotes, where they are, how hard to push.

Validated once, at construction: an unknown exchange id raises `UnknownExchangeError` (listing
CCXT's close ids) at once, not a pydantic wrapper, so the one line names what to fix.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from criptopipe.sources.exchanges.venues import venue

DEFAULT_EXCHANGES = ("binance", "kraken")
DEFAULT_QUOTES = ("USDT", "USD")


def _split(value: Any) -> Any:
    """Accept "binance, kraken" (an environment variable) as well as a sequence."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class ExchangeSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    #: CCXT exchange ids, in the order they are reported (CRIPTOPIPE_EXCHANGES)
    exchanges: tuple[str, ...] = DEFAULT_EXCHANGES
    #: quote currencies in order of preference when a coin trades against several
    quote_preference: tuple[str, ...] = DEFAULT_QUOTES
    #: exchange id -> root URL of a stand-in (the sandbox: ExchangeSandbox.url("binance")); the
    #: exchange's public API keys point below it and every other API key at a closed local port
    url_overrides: dict[str, str] = Field(default_factory=dict)
    #: exchange id -> CCXT `rateLimit` in ms (spacing per unit of endpoint cost); unset: CCXT's
    #: default (binance 50, kraken 1000)
    rate_limit_ms: dict[str, float] = Field(default_factory=dict)
    #: CCXT's per-request timeout
    timeout_ms: int = Field(default=10_000, gt=0)
    #: candle requests in flight per exchange (CCXT's rate limiter spaces their start)
    max_in_flight: int = Field(default=8, gt=0)
    #: our retries of transient failures (CCXT retries nothing by default)
    max_attempts: int = Field(default=5, ge=1)
    max_retry_seconds: float = Field(default=120.0, gt=0)
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)
    #: reviewed mappings that win over the automatic one: exchange id -> coin id -> symbol
    pins: dict[str, dict[str, str]] = Field(default_factory=dict)

    @field_validator("exchanges", "quote_preference", mode="before")
    @classmethod
    def _split_lists(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("exchanges")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one exchange, e.g. CRIPTOPIPE_EXCHANGES=binance,kraken")
        ids = tuple(v.lower() for v in value)
        for exchange_id in ids:
            venue(exchange_id)  # raises UnknownExchangeError, which pydantic lets through
        if len(set(ids)) != len(ids):
            raise ValueError(f"an exchange is listed twice: {','.join(ids)}")
        return ids

    @field_validator("quote_preference")
    @classmethod
    def _quotes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one quote currency, e.g. USDT,USD")
        return tuple(v.upper() for v in value)

    @field_validator("url_overrides")
    @classmethod
    def _urls(cls, value: dict[str, str]) -> dict[str, str]:
        out = {}
        for exchange_id, url in value.items():
            url = url.strip().rstrip("/")
            if not url.startswith(("http://", "https://")):
                raise ValueError(
                    f"url_overrides[{exchange_id!r}] must start with http:// or https://, "
                    f"got {url!r}"
                )
            out[exchange_id.lower()] = url
        return out

    @model_validator(mode="after")
    def _keys_are_configured(self) -> ExchangeSettings:
        for name in ("url_overrides", "rate_limit_ms", "pins"):
            extra = set(getattr(self, name)) - set(self.exchanges)
            if extra:
                raise ValueError(
                    f"{name} names {sorted(extra)}, which are not in exchanges "
                    f"{list(self.exchanges)}"
                )
        return self
