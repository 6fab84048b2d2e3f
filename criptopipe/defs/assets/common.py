"""What every asset shares: its decorator arguments, run config, and the bridge from a step to
the Dagster-free layers (a `Spend` for the step, typed errors turned into step failures)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import dagster as dg
from pydantic import Field

from criptopipe.datasets import Dataset
from criptopipe.defs import catalog
from criptopipe.defs.partitions import daily_partitions, snapshot_partitions
from criptopipe.defs.resources import CoinCapResource, MongoResource, PostgresResource
from criptopipe.defs.run_alerts import alert_on_failure
from criptopipe.defs.types import output_type
from criptopipe.pipeline.spend import Spend
from criptopipe.storage.slices import Slice

#: A step that failed on something a retry can fix (429 storms, 5xx, a database that dropped
#: the connection) is retried with exponential backoff and jitter; errors that a retry cannot
#: fix (bad configuration, refused credentials, missing key, unknown coin, budget) fail at
#: once (`allow_retries=False`); a server that does not answer at all is retried only briefly
#: (`defs/failures.py`).
RETRY_POLICY = dg.RetryPolicy(
    max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
#: Every step that calls CoinCap holds a slot of this pool, so concurrent runs and backfills
#: share one limit (see `concurrency.pools` in dagster.yaml) and stay under 600 calls/minute.
COINCAP_POOL = "coincap"

#: each asset is due every day by 03:00 UTC (the 00:30 schedule plus its retries). Dagster's
#: freshness policy looks at the latest materialization, not at partitions: a late backfill of
#: old days also counts (docs/operations.md#freshness).
DAILY_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 3 * * *", lower_bound_delta=timedelta(hours=3), timezone="UTC"
)

COINCAP_ASSET: dict[str, Any] = {
    "io_manager_key": "warehouse_io_manager",
    "group_name": "coincap",
    "kinds": {"postgres", "mongodb", "pandas"},
    "retry_policy": RETRY_POLICY,
    "pool": COINCAP_POOL,
    # records and alerts a step's final failure from inside the run (no daemon needed)
    "hooks": {alert_on_failure},
    "owners": catalog.OWNERS,
    "freshness_policy": DAILY_FRESHNESS,
}


def dataset_asset(
    ds: Dataset, *, deps: Sequence[dg.AssetSpec | dg.AssetDep], **extra: Any
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """`@dg.asset` for a registry dataset: its partitions (the snapshot start for a live-only
    dataset, re-bound to the configured one when the definitions load), one run per partition
    range, its output type, catalog metadata, and the routes (or assets) it reads as `deps`;
    `extra` overrides the CoinCap defaults (group, pool)."""

    def decorate(fn: Callable[..., Any]) -> dg.AssetsDefinition:
        with warnings.catch_warnings():
            # `backfill_policy` is beta in Dagster 1.13, and the only way a partition range runs
            # as ONE run (one ranged request per coin instead of one per day): kept, this one
            # warning silenced.
            warnings.filterwarnings(
                "ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning
            )
            return dg.asset(
                name=ds.name,
                partitions_def=snapshot_partitions() if ds.snapshot else daily_partitions,
                backfill_policy=dg.BackfillPolicy.single_run(),
                deps=list(deps),
                dagster_type=output_type(ds),
                description=ds.description,
                metadata=catalog.definition_metadata(ds),
                tags=catalog.tags(ds),
                code_version=catalog.code_version(ds),
                **{**COINCAP_ASSET, **extra},
            )(fn)

    return decorate


#: Every step that calls the exchanges holds a slot of this pool (one by default): CCXT's rate
#: limiter is per process, so two runs' candle fetches take turns instead of doubling the pace.
EXCHANGES_POOL = "exchanges"

EXCHANGE_ASSET: dict[str, Any] = {"group_name": "exchanges", "pool": EXCHANGES_POOL}

#: computed from the stores: no API, no pool
DERIVED_ASSET: dict[str, Any] = {"group_name": "prices", "pool": None}


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


def stores_ready(postgres: PostgresResource, mongo: MongoResource) -> None:
    """Both stores checked (reachable, credentials, database) before the step spends anything:
    the budget read, a CoinCap call. Once per run: the resources keep their checked stores."""
    postgres.store()
    mongo.store()


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
