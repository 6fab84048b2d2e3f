"""What every asset shares: its decorator arguments, run config, and the bridge from a step to
the Dagster-free layers (a `Spend` for the step, typed errors turned into step failures)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import dagster as dg
from pydantic import Field

from criptopipe.config import ConfigError
from criptopipe.defs.partitions import daily_partitions
from criptopipe.defs.resources import CoinCapResource, PostgresResource
from criptopipe.defs.run_alerts import alert_on_failure
from criptopipe.pipeline.candles import NoSymbolsError
from criptopipe.pipeline.ingest import EmptyAnswerError, UnknownCoinsError
from criptopipe.pipeline.planner import BudgetExceededError
from criptopipe.pipeline.spend import Spend
from criptopipe.sources.coincap.errors import CoinCapError
from criptopipe.sources.exchanges.errors import ExchangeSourceError
from criptopipe.storage.errors import StorageError
from criptopipe.storage.slices import Slice

#: A step that failed on something a retry can fix (429 storms, 5xx, a database restart) is
#: retried with exponential backoff and jitter; errors that a retry cannot fix (missing key,
#: unknown coin, budget, bad configuration) fail at once (`allow_retries=False`).
RETRY_POLICY = dg.RetryPolicy(
    max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
#: Every step that calls CoinCap holds a slot of this pool, so concurrent runs and backfills
#: share one limit (see `concurrency.pools` in dagster.yaml) and stay under 600 calls/minute.
COINCAP_POOL = "coincap"

COINCAP_ASSET: dict[str, Any] = {
    "partitions_def": daily_partitions,
    "backfill_policy": dg.BackfillPolicy.single_run(),
    "io_manager_key": "warehouse_io_manager",
    "group_name": "coincap",
    "kinds": {"postgres", "mongodb", "pandas"},
    "retry_policy": RETRY_POLICY,
    "pool": COINCAP_POOL,
    # records and alerts a step's final failure from inside the run (no daemon needed)
    "hooks": {alert_on_failure},
}

#: Every step that calls the exchanges holds a slot of this pool (one by default): CCXT's rate
#: limiter is per process, so two runs' candle fetches take turns instead of doubling the pace.
EXCHANGES_POOL = "exchanges"

EXCHANGE_ASSET: dict[str, Any] = {
    **COINCAP_ASSET,
    "group_name": "exchanges",
    "pool": EXCHANGES_POOL,
}

#: computed from the stores: no API, no pool
DERIVED_ASSET: dict[str, Any] = {
    **{k: v for k, v in COINCAP_ASSET.items() if k != "pool"},
    "group_name": "prices",
    "kinds": {"postgres", "mongodb", "pandas"},
}

#: the errors of the layers below; each says whether a retry may help (`retryable`)
KNOWN_ERRORS = (
    CoinCapError,
    ExchangeSourceError,
    NoSymbolsError,
    UnknownCoinsError,
    EmptyAnswerError,
    BudgetExceededError,
    StorageError,
    ConfigError,
)


class CoinsConfig(dg.Config):
    coins: list[str] = Field(
        default_factory=list,
        description="CoinCap ids for this run only (e.g. ['bitcoin']); empty: the tracked coins.",
    )
    ignore_budget: bool = Field(
        default=False,
        description="Run even if the estimate exceeds what is left of COINCAP_CREDIT_BUDGET.",
    )


class HistoryConfig(CoinsConfig):
    fill_gaps: bool = Field(
        default=False,
        description="Fetch only the (coin, day) ranges missing from PostgreSQL in the window; "
        "rows already loaded are neither fetched nor rewritten.",
    )


@contextlib.contextmanager
def step_failures() -> Iterator[None]:
    """Turn the layers' typed errors into step failures, retried only when they say so."""
    try:
        yield
    except KNOWN_ERRORS as exc:
        raise dg.Failure(description=str(exc), allow_retries=exc.retryable) from exc


def spend(
    context: dg.AssetExecutionContext,
    coincap: CoinCapResource,
    postgres: PostgresResource,
    window: Slice,
) -> Spend:
    """This step's CoinCap session: budget, ledger and logs wired to Dagster."""
    return Spend(
        coincap.client_settings(),
        coincap.budget(),
        postgres.store(),
        run_id=context.run.run_id,
        asset=context.asset_key.to_user_string(),
        window=window,
        log=context.log.info,
        warn=context.log.warning,
    )


def metadata(values: dict[str, Any]) -> dict[str, dg.MetadataValue]:
    """Plain values as Dagster metadata (ints, floats, URLs, text, JSON)."""
    out: dict[str, dg.MetadataValue] = {}
    for key, value in values.items():
        if isinstance(value, bool) or value is None:
            out[key] = dg.MetadataValue.text(str(value))
        elif isinstance(value, int):
            out[key] = dg.MetadataValue.int(value)
        elif isinstance(value, float):
            out[key] = dg.MetadataValue.float(value)
        elif isinstance(value, str) and value.startswith(("http://", "https://")):
            out[key] = dg.MetadataValue.url(value)
        elif isinstance(value, str):
            out[key] = dg.MetadataValue.text(value)
        else:
            out[key] = dg.MetadataValue.json(value)
    return out


def short_list(items: list[str], limit: int = 50) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
