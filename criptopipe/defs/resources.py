"""Dagster resources: thin adapters from launchpad/run-config fields to the layers below.

Every field can be set in the Dagster UI's launchpad or in run config; a field left unset falls
back to `criptopipe.config.settings()` (the environment, read once and validated). Stores are
opened once per run and closed at teardown. Before a store is first used it is checked
(`criptopipe.pipeline.preflight`: one connection with a short timeout), so the assets, the
checks, the sensors and the failure hook all meet a wrong URL, password, database or port the
same way: a failure without retry, in one line naming the variable, in seconds.
"""

from __future__ import annotations

import threading
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr, SecretStr

from criptopipe import config, datasets
from criptopipe.config import ConfigError, Settings
from criptopipe.pipeline import preflight
from criptopipe.pipeline.ingest import Universe
from criptopipe.sources.coincap.settings import ClientSettings
from criptopipe.storage.errors import StorageError, url_secrets
from criptopipe.storage.mongo import MongoStore
from criptopipe.storage.postgres import PostgresStore


def env_settings() -> Settings:
    """The environment's settings, or a run failure (no retry) naming what to fix."""
    try:
        return config.settings()
    except ConfigError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


class _Configured(dg.ConfigurableResource):
    """A resource whose unset fields come from the settings, read once per run."""

    _settings: Settings | None = PrivateAttr(default=None)

    def env(self) -> Settings:
        if self._settings is None:
            self._settings = env_settings()
        return self._settings

    def secrets(self) -> tuple[str, ...]:
        """What must never reach a log: the environment's and the launchpad's secrets."""
        found = list(self._settings.secrets()) if self._settings is not None else []
        for name in ("url", "uri", "api_key"):
            value = getattr(self, name, None)
            if isinstance(value, str) and value:
                found += url_secrets(value) if name != "api_key" else [value]
        return tuple(dict.fromkeys(found))


def _say(message: str) -> None:
    dg.get_dagster_logger("criptopipe").warning(message)


def _unusable(exc: ConfigError) -> dg.Failure:
    """A store the preflight refused: no retry (an unreachable one was already tried again)."""
    return dg.Failure(description=str(exc), allow_retries=False)


class CoinCapResource(_Configured):
    """CoinCap v3 over an async httpx client: key, base URL, rate, retries, timeouts, span."""

    api_key: str | None = Field(
        default=None,
        description="Bound to the COINCAP_API_KEY environment variable in the definitions; "
        "leave it so. Never type a key here: run config is stored in clear text in the run's "
        "record.",
    )
    base_url: str | None = Field(
        default=None,
        description=f"Unset: COINCAP_BASE_URL, else {config.DEFAULT_BASE_URL}. "
        "Point it at `criptopipe-sandbox` to run without CoinCap.",
    )
    calls_per_minute: int = Field(default=600, description="Client-side rate limit (v3: 600).")
    max_in_flight: int = Field(default=8, description="Concurrent requests at most.")
    timeout_s: float = Field(default=30.0, description="Read timeout per request, seconds.")
    max_attempts: int = Field(default=6, description="Attempts per request on 429/5xx/timeouts.")
    max_retry_seconds: float = Field(default=120.0, description="Give up retrying after this.")
    unreachable_retry_seconds: float = Field(
        default=5.0,
        description="A server that does not answer at all (connection refused, no connect) is "
        "tried this long per request; the step is then retried twice, 10 s apart, and fails.",
    )
    history_span_days: int | None = Field(
        default=None,
        description="Widest window one history request covers (chunking). Unset: "
        f"CRIPTOPIPE_HISTORY_SPAN_DAYS, else {config.DEFAULT_HISTORY_SPAN_DAYS}.",
    )
    credit_budget: int | None = Field(
        default=None,
        description="Credits per month this project may spend at this base URL. Unset: "
        f"COINCAP_CREDIT_BUDGET, else {config.DEFAULT_CREDIT_BUDGET} (the free tier); 'off' "
        "disables the guard. A run whose estimate exceeds what is left refuses to start.",
    )

    def span_days(self) -> int:
        return self.history_span_days or self.env().history_span_days

    def budget(self) -> int | None:
        return self.credit_budget if self.credit_budget is not None else self.env().credit_budget

    def client_settings(self) -> ClientSettings:
        env = self.env()
        key = self.api_key or env.api_key()
        try:
            return ClientSettings(
                base_url=self.base_url or env.coincap_base_url,
                api_key=SecretStr(key) if key else None,
                calls_per_minute=self.calls_per_minute,
                max_in_flight=self.max_in_flight,
                timeout_s=self.timeout_s,
                max_attempts=self.max_attempts,
                max_retry_seconds=self.max_retry_seconds,
                unreachable_retry_s=self.unreachable_retry_seconds,
                history_span_days=self.span_days(),
            )
        except ValueError as exc:  # a launchpad value out of range
            raise dg.Failure(description=f"coincap resource: {exc}", allow_retries=False) from None


class PostgresResource(_Configured):
    """The typed warehouse: one table per dataset in `schema_name`, plus the ledger and ops log.
    The pipeline's tables are created (or migrated) once per run, when the run starts."""

    url: str | None = Field(default=None, description="Unset: DATABASE_URL.")
    schema_name: str | None = Field(
        default=None, description=f"Unset: CRIPTOPIPE_PG_SCHEMA, else '{config.DEFAULT_SCHEMA}'."
    )
    _store: PostgresStore | None = PrivateAttr(default=None)
    _refused: str | None = PrivateAttr(default=None)

    def store(self) -> PostgresStore:
        """The warehouse, checked (reachable, credentials, database) and its schema ensured on
        first use in the run; the same store afterwards, step retries included. Checked once:
        a store the check refused is refused again at once (the failure hook asks too)."""
        if self._refused is not None:
            raise dg.Failure(description=self._refused, allow_retries=False)
        if self._store is None:
            env = self.env()
            schema = self.schema_name or env.pg_schema
            try:
                url = self.url or env.require_database_url()
                if not config.SCHEMA_NAME.match(schema):
                    raise ConfigError(
                        f"postgres resource schema_name={schema!r} must be a lowercase "
                        "PostgreSQL name. Example: coincap"
                    )
                variable = "the postgres resource's url" if self.url else "DATABASE_URL"
                store = PostgresStore(url, schema=schema, variable=variable)
                preflight.postgres(store, say=_say)
            except ConfigError as exc:
                self._refused = str(exc)
                raise _unusable(exc) from None
            store.ensure_schema(datasets.all_datasets())
            self._store = store
        return self._store


class _SharedMongo:
    """One MongoDB client per URI per process while a resource holds it. The IO manager's
    nested copy of the `mongo` resource and the top-level one are two resource instances in a
    run; they share this client, and the last teardown closes it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stores: dict[str, tuple[MongoStore, int]] = {}

    def acquire(self, uri: str, variable: str = "MONGODB_URI") -> MongoStore:
        with self._lock:
            store, refs = self._stores.get(uri) or (MongoStore(uri, variable=variable), 0)
            self._stores[uri] = (store, refs + 1)
            return store

    def acquire_existing(self, uri: str) -> MongoStore:
        with self._lock:
            return self._stores[uri][0]

    def release(self, uri: str) -> None:
        with self._lock:
            store, refs = self._stores[uri]
            if refs > 1:
                self._stores[uri] = (store, refs - 1)
            else:
                del self._stores[uri]
                store.close()


_MONGO = _SharedMongo()


class MongoResource(_Configured):
    """The raw archive: the source's documents as sent, one collection per dataset; one
    client per run, opened on first use, closed at teardown."""

    uri: str | None = Field(default=None, description="Unset: MONGODB_URI.")
    _uri: str | None = PrivateAttr(default=None)
    _refused: str | None = PrivateAttr(default=None)

    def store(self) -> MongoStore:
        """The archive, checked (reachable, login) on first use in the run, once."""
        if self._refused is not None:
            raise dg.Failure(description=self._refused, allow_retries=False)
        if self._uri is None:
            try:
                uri = self.uri or self.env().require_mongodb_uri()
                variable = "the mongo resource's uri" if self.uri else "MONGODB_URI"
                store = _MONGO.acquire(uri, variable)
            except ConfigError as exc:
                self._refused = str(exc)
                raise _unusable(exc) from None
            except StorageError as exc:  # a URI the driver cannot read
                self._refused = str(exc)
                raise _unusable(ConfigError(str(exc))) from None
            try:
                preflight.mongo(store, say=_say)
            except ConfigError as exc:
                _MONGO.release(uri)
                self._refused = str(exc)
                raise _unusable(exc) from None
            self._uri = uri
            return store
        return _MONGO.acquire_existing(self._uri)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._uri is not None:
            _MONGO.release(self._uri)
            self._uri = None


class CoinUniverseResource(_Configured):
    """Which coins are tracked, and how snapshots are taken."""

    coins: list[str] = Field(
        default_factory=list,
        description="Explicit CoinCap ids. Empty: CRIPTOPIPE_COINS (comma-separated), else top_n.",
    )
    top_n: int | None = Field(
        default=None,
        description=f"Track the top N by market cap. Unset: CRIPTOPIPE_TOP_N, else "
        f"{config.DEFAULT_TOP_N}.",
    )
    markets_per_coin: int | None = Field(
        default=None,
        description="Markets kept per coin (CoinCap lists them by volume); 0: all of them. "
        f"Unset: CRIPTOPIPE_MARKETS_PER_COIN, else {config.DEFAULT_MARKETS_PER_COIN}.",
    )
    snapshot_grace_hours: float | None = Field(
        default=None,
        description="How long after a day closes its snapshot may still be fetched live. Unset:"
        f" CRIPTOPIPE_SNAPSHOT_GRACE_HOURS, else {config.DEFAULT_SNAPSHOT_GRACE_HOURS:g}.",
    )

    def universe(self, override: list[str] | None = None) -> Universe:
        """The run's `coins`, else this resource's, else the settings' (same rules for all)."""
        env = self.env()
        where = "the run config's coins" if override else "the universe resource's coins"
        coins = list(override or self.coins or env.coins)
        top_n = self.top_n if self.top_n is not None else env.top_n
        try:
            preflight.universe(coins, top_n, where)
        except ConfigError as exc:
            raise _unusable(exc) from None
        if override:
            return Universe(coins=tuple(coins))
        return Universe(coins=tuple(coins), top_n=top_n)

    def markets(self) -> int | None:
        """Markets kept per coin; None: all of them."""
        if self.markets_per_coin is None:
            return self.env().markets_per_coin
        return self.markets_per_coin or None

    def grace_hours(self) -> float:
        return self.snapshot_grace_hours or self.env().snapshot_grace_hours


def resources(key_is_set: bool = False) -> dict[str, Any]:
    """The resources every definition uses, bound to the environment when a run starts. The
    CoinCap key is bound as `dg.EnvVar("COINCAP_API_KEY")` (the launchpad shows the name, run
    config never holds the key) when set where the definitions load (`key_is_set`); unset, the
    resource fails at run time with the clear "not set ... sandbox" message, not Dagster's."""
    postgres, mongo = PostgresResource(), MongoResource()
    from criptopipe.defs.exchange_resource import ExchangesResource
    from criptopipe.defs.io_manager import WarehouseIOManager

    coincap = CoinCapResource(api_key=dg.EnvVar("COINCAP_API_KEY")) if key_is_set else None
    return {
        "coincap": coincap or CoinCapResource(),
        "exchanges": ExchangesResource(),
        "universe": CoinUniverseResource(),
        "postgres": postgres,
        "mongo": mongo,
        "warehouse_io_manager": WarehouseIOManager(postgres=postgres, mongo=mongo),
    }
