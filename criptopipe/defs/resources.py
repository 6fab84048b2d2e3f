"""Dagster resources: CoinCap access, the two stores, and the tracked coins.

Every field can be set in the Dagster UI's launchpad or in run config. Left unset, a field falls
back to its environment variable (`COINCAP_API_KEY`, `COINCAP_BASE_URL`, `DATABASE_URL`,
`MONGODB_URI`, ...) resolved through `dg.EnvVar` when the run starts, never at import time, so a
missing variable fails the run with a message that says what to set instead of a generic
config error.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field, SecretStr

from criptopipe import settings as env
from criptopipe.pipeline.ingest import Universe
from criptopipe.sources.coincap.client import CoinCapClient
from criptopipe.sources.coincap.settings import ClientSettings
from criptopipe.storage.mongo import MongoStore
from criptopipe.storage.postgres import PostgresStore


def _env(name: str) -> str | None:
    value = dg.EnvVar(name).get_value()
    return value if value else None


def _required(value: str | None, name: str, hint: str) -> str:
    resolved = value or _env(name)
    if not resolved:
        raise dg.Failure(description=f"{name} is not set. {hint}")
    return resolved


class CoinCapResource(dg.ConfigurableResource):
    """CoinCap v3 over an async httpx client: key, base URL, rate, retries, timeouts, span."""

    api_key: str | None = Field(
        default=None,
        description="CoinCap API key. Unset: the COINCAP_API_KEY environment variable.",
    )
    base_url: str | None = Field(
        default=None,
        description=f"Unset: COINCAP_BASE_URL, else {env.DEFAULT_BASE_URL}. "
        "Point it at `criptopipe-sandbox` to run without CoinCap.",
    )
    calls_per_minute: int = Field(default=600, description="Client-side rate limit (v3: 600).")
    max_in_flight: int = Field(default=8, description="Concurrent requests at most.")
    timeout_s: float = Field(default=30.0, description="Read timeout per request, seconds.")
    max_attempts: int = Field(default=6, description="Attempts per request on 429/5xx/timeouts.")
    max_retry_seconds: float = Field(default=120.0, description="Give up retrying after this.")
    history_span_days: int | None = Field(
        default=None,
        description="Widest window one history request covers (chunking). Unset: "
        "CRIPTOPIPE_HISTORY_SPAN_DAYS, else 365.",
    )

    def resolved_span(self) -> int:
        if self.history_span_days is not None:
            return self.history_span_days
        return int(_env(env.HISTORY_SPAN_DAYS) or env.DEFAULT_HISTORY_SPAN_DAYS)

    credit_budget: int | None = Field(
        default=None,
        description="Credits per month this project may spend at this base URL. Unset: "
        f"COINCAP_CREDIT_BUDGET, else {env.DEFAULT_CREDIT_BUDGET} (the free tier); 'off' disables "
        "the guard. A run whose estimate exceeds what is left refuses to start.",
    )

    def resolved_budget(self) -> int | None:
        if self.credit_budget is not None:
            return self.credit_budget
        raw = _env(env.CREDIT_BUDGET)
        if raw is None:
            return env.DEFAULT_CREDIT_BUDGET
        if raw.strip().lower() in {"off", "none", "unlimited"}:
            return None
        try:
            return int(raw)
        except ValueError:
            raise dg.Failure(
                description=f"{env.CREDIT_BUDGET}={raw!r} is not a whole number of credits."
            ) from None

    def client_settings(self) -> ClientSettings:
        return ClientSettings(
            base_url=self.base_url or _env(env.COINCAP_BASE_URL) or env.DEFAULT_BASE_URL,
            api_key=SecretStr(key) if (key := self.api_key or _env(env.COINCAP_API_KEY)) else None,
            calls_per_minute=self.calls_per_minute,
            max_in_flight=self.max_in_flight,
            timeout_s=self.timeout_s,
            max_attempts=self.max_attempts,
            max_retry_seconds=self.max_retry_seconds,
            history_span_days=self.resolved_span(),
        )

    def open(self) -> CoinCapClient:
        """A new client for one run (use as `async with`); raises before any request when the
        key is missing for CoinCap's own URL."""
        return CoinCapClient(self.client_settings())


class PostgresResource(dg.ConfigurableResource):
    """The typed warehouse: one table per dataset in `schema_name`."""

    url: str | None = Field(default=None, description="Unset: DATABASE_URL.")
    schema_name: str | None = Field(
        default=None, description=f"Unset: CRIPTOPIPE_PG_SCHEMA, else '{env.DEFAULT_SCHEMA}'."
    )

    def resolved_url(self) -> str:
        return _required(
            self.url,
            env.DATABASE_URL,
            "Export DATABASE_URL=postgresql://user:password@host:5432/db, or use `make run` / "
            "`make dev`, which start a local PostgreSQL and set it for you.",
        )

    def resolved_schema(self) -> str:
        return self.schema_name or _env(env.PG_SCHEMA) or env.DEFAULT_SCHEMA

    def store(self) -> PostgresStore:
        return PostgresStore(self.resolved_url(), schema=self.resolved_schema())


class MongoResource(dg.ConfigurableResource):
    """The raw archive: CoinCap's documents as sent, one collection per dataset."""

    uri: str | None = Field(default=None, description="Unset: MONGODB_URI.")

    def resolved_uri(self) -> str:
        return _required(
            self.uri,
            env.MONGODB_URI,
            "Export MONGODB_URI=mongodb://host:27017/criptopipe, or use `make run` / `make dev`, "
            "which start a local MongoDB-compatible server and set it for you.",
        )

    def store(self) -> MongoStore:
        return MongoStore(self.resolved_uri())


class CoinUniverseResource(dg.ConfigurableResource):
    """Which coins are tracked, and how snapshots are taken."""

    coins: list[str] = Field(
        default_factory=list,
        description="Explicit CoinCap ids. Empty: CRIPTOPIPE_COINS (comma-separated), else top_n.",
    )
    top_n: int | None = Field(
        default=None,
        description=f"Track the top N by market cap. Unset: CRIPTOPIPE_TOP_N, else "
        f"{env.DEFAULT_TOP_N}.",
    )
    markets_per_coin: int | None = Field(
        default=env.DEFAULT_MARKETS_PER_COIN,
        description="Markets kept per coin (CoinCap lists them by volume); null: all of them.",
    )
    snapshot_grace_hours: float = Field(
        default=env.DEFAULT_SNAPSHOT_GRACE_HOURS,
        description="How long after a day closes its snapshot may still be fetched live.",
    )

    def universe(self, override: list[str] | None = None) -> Universe:
        if override:
            return Universe(coins=tuple(override))
        if self.coins:
            return Universe(coins=tuple(self.coins))
        listed = _env(env.COINS)
        if listed:
            return Universe(coins=tuple(c.strip() for c in listed.split(",") if c.strip()))
        top = self.top_n or int(_env(env.TOP_N) or env.DEFAULT_TOP_N)
        return Universe(top_n=top)
