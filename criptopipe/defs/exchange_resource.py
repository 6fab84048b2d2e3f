"""The exchanges resource: launchpad fields over `Settings` -> the CCXT layer's settings.

Every field can be set per run (the Dagster launchpad, run config); what a field leaves unset
comes from the environment (`CRIPTOPIPE_EXCHANGES`, `CRIPTOPIPE_QUOTE_PREFERENCE`,
`CRIPTOPIPE_EXCHANGE_URLS`, `CRIPTOPIPE_EXCHANGE_RATE_LIMIT_MS`, `CRIPTOPIPE_SOURCES_*_PCT`).
A bad value fails the run at once with one line and no retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import dagster as dg
from pydantic import Field, ValidationError

from criptopipe import config
from criptopipe.defs.resources import _Configured
from criptopipe.sources.exchanges.errors import UnknownExchangeError
from criptopipe.sources.exchanges.settings import ExchangeSettings

T = TypeVar("T")


class ExchangesResource(_Configured):
    """Cryptocurrency exchanges through CCXT: which, which quotes, where, how fast."""

    exchanges: list[str] = Field(
        default_factory=list,
        description="CCXT exchange ids. Empty: CRIPTOPIPE_EXCHANGES, else "
        f"{','.join(config.DEFAULT_EXCHANGES)}.",
    )
    quote_preference: list[str] = Field(
        default_factory=list,
        description="Quote currencies in order of preference. Empty: CRIPTOPIPE_QUOTE_PREFERENCE, "
        f"else {','.join(config.DEFAULT_QUOTE_PREFERENCE)}.",
    )
    url_overrides: dict[str, str] = Field(
        default_factory=dict,
        description="Exchange id -> root URL of a stand-in (the exchange sandbox). Empty: "
        "CRIPTOPIPE_EXCHANGE_URLS, else the real exchanges.",
    )
    rate_limit_ms: dict[str, float] = Field(
        default_factory=dict,
        description="Exchange id -> CCXT rateLimit in ms. Empty: CRIPTOPIPE_EXCHANGE_RATE_LIMIT_MS"
        ", else CCXT's own (binance 50, kraken 1000).",
    )
    timeout_ms: int = Field(default=10_000, description="Per request, milliseconds.")
    max_attempts: int = Field(default=5, description="Attempts per request on transient errors.")
    max_retry_seconds: float = Field(default=120.0, description="Give up retrying after this.")
    backoff_base_s: float = Field(default=0.5, description="First backoff without Retry-After.")
    backoff_max_s: float = Field(default=30.0, description="Longest backoff.")
    warn_pct: float | None = Field(
        default=None,
        description="sources_agree warns above this spread (%). Unset: "
        f"CRIPTOPIPE_SOURCES_WARN_PCT, else {config.DEFAULT_SOURCES_WARN_PCT:g}.",
    )
    error_pct: float | None = Field(
        default=None,
        description="sources_agree errs when a price is this far from the median (%). Unset: "
        f"CRIPTOPIPE_SOURCES_ERROR_PCT, else {config.DEFAULT_SOURCES_ERROR_PCT:g}.",
    )

    def exchange_settings(self) -> ExchangeSettings:
        env = self.env()
        exchanges = tuple(self.exchanges) or env.exchanges
        try:
            return ExchangeSettings(
                exchanges=exchanges,
                quote_preference=tuple(self.quote_preference) or env.quote_preference,
                url_overrides=self.url_overrides or _only(env.exchange_urls, exchanges),
                rate_limit_ms=self.rate_limit_ms or _only(env.exchange_rate_limit_ms, exchanges),
                timeout_ms=self.timeout_ms,
                max_attempts=self.max_attempts,
                max_retry_seconds=self.max_retry_seconds,
                backoff_base_s=self.backoff_base_s,
                backoff_max_s=self.backoff_max_s,
            )
        except UnknownExchangeError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        except ValidationError as exc:  # a launchpad value out of range
            reason = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
            raise dg.Failure(
                description=f"exchanges resource: {reason}", allow_retries=False
            ) from None

    def thresholds(self) -> tuple[float, float]:
        """(warning, error) thresholds of sources_agree, in %."""
        env = self.env()
        warn = self.warn_pct if self.warn_pct is not None else env.sources_warn_pct
        error = self.error_pct if self.error_pct is not None else env.sources_error_pct
        if not 0 < warn < error:
            raise dg.Failure(
                description=f"exchanges resource: warn_pct ({warn:g}) must be above 0 and below "
                f"error_pct ({error:g})",
                allow_retries=False,
            )
        return warn, error


def _only(values: Mapping[str, T], exchanges: tuple[str, ...]) -> dict[str, T]:
    """The environment's per-exchange values for the exchanges this run uses."""
    return {k: v for k, v in values.items() if k in exchanges}
