"""The one Definitions object: assets, checks, jobs, schedules, sensors and resources.

Load it with `dagster dev -m criptopipe.definitions` (what `make dev` does through
`workspace.yaml`) or `dagster asset materialize -m criptopipe.definitions --select ...`.
Nothing here reads the environment: resources resolve their variables when a run starts.
"""

from __future__ import annotations

import dagster as dg

from criptopipe.assets import coincap_assets
from criptopipe.checks import coincap_checks
from criptopipe.executor import pool_aware_in_process_executor
from criptopipe.io_managers import WarehouseIOManager
from criptopipe.jobs import jobs
from criptopipe.resources import (
    CoinCapResource,
    CoinUniverseResource,
    MongoResource,
    PostgresResource,
)
from criptopipe.schedules import schedules
from criptopipe.sensors import sensors

postgres = PostgresResource()
mongo = MongoResource()

defs = dg.Definitions(
    # One process per run: steps share the CoinCap pool anyway, and a step per process would
    # cost seconds of start-up for each of the checks. Dagster's in-process executor with a pool
    # wait that sleeps, hears SIGTERM and frees slots of dead runs (criptopipe/executor.py).
    executor=pool_aware_in_process_executor,
    assets=coincap_assets,
    asset_checks=coincap_checks,
    jobs=jobs,
    schedules=schedules,
    sensors=sensors,
    resources={
        "coincap": CoinCapResource(),
        "universe": CoinUniverseResource(),
        "postgres": postgres,
        "mongo": mongo,
        "warehouse_io_manager": WarehouseIOManager(postgres=postgres, mongo=mongo),
    },
)
