"""The one Definitions object, built from `criptopipe/defs/` when a code location loads it.

Load it with `dagster dev -m criptopipe.definitions` (what `make dev` does through
`workspace.yaml`), `dg launch --assets ...` or `dagster asset materialize -m
criptopipe.definitions --select ...`, or `dg` (`[tool.dg]` in pyproject.toml points at this
module). `@dg.definitions` builds it lazily: importing the module reads nothing, loading it reads
only what the definitions depend on (`config.DefinitionSettings`: where the snapshot partitions
start, whether COINCAP_API_KEY is set); resources resolve everything else when a run starts.
"""

from __future__ import annotations

import dagster as dg

from criptopipe import config
from criptopipe.defs.assets import (
    asset_history,
    daily_prices,
    exchange_candles,
    market_snapshots,
    raw_assets,
)
from criptopipe.defs.assets.sources import coincap_sources, exchange_sources
from criptopipe.defs.checks import build_checks
from criptopipe.defs.exchange_checks import exchange_checks
from criptopipe.defs.executor import pool_aware_in_process_executor
from criptopipe.defs.jobs import jobs
from criptopipe.defs.partitions import snapshot_partitions, with_partitions
from criptopipe.defs.resources import resources
from criptopipe.defs.schedules import schedules
from criptopipe.defs.sensors import sensors


def build(settings: config.DefinitionSettings) -> dg.Definitions:
    snapshot_days = snapshot_partitions(settings.snapshot_start)
    snapshots = with_partitions([raw_assets, market_snapshots], snapshot_days)
    return dg.Definitions(
        # One process per run: steps share the CoinCap pool anyway, and a step per process would
        # cost seconds of start-up for each of the checks. Dagster's in-process executor with a
        # pool wait that sleeps, hears SIGTERM and frees slots of dead runs (defs/executor.py).
        executor=pool_aware_in_process_executor,
        assets=[
            *coincap_sources,
            *exchange_sources,
            asset_history,
            *snapshots,
            exchange_candles,
            daily_prices,
        ],
        asset_checks=[*build_checks(snapshot_days), *exchange_checks],
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources=resources(key_is_set=settings.coincap_api_key is not None),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build(config.definition_settings())
