"""The one Definitions object: assets, checks, jobs, schedules, sensors and resources.

Load it with `dagster dev -m criptopipe.definitions` (what `make dev` does through
`workspace.yaml`) or `dagster asset materialize -m criptopipe.definitions --select ...`.
Nothing here reads the environment: resources resolve their variables when a run starts.
"""

from __future__ import annotations

import dagster as dg

from criptopipe.defs.assets import coincap_assets
from criptopipe.defs.checks import coincap_checks
from criptopipe.defs.io_manager import WarehouseIOManager
from criptopipe.defs.jobs import jobs
from criptopipe.defs.resources import (
    CoinCapResource,
    CoinUniverseResource,
    MongoResource,
    PostgresResource,
)
from criptopipe.defs.schedules import schedules
from criptopipe.defs.sensors import sensors

postgres = PostgresResource()
mongo = MongoResource()

defs = dg.Definitions(
    # One process per run: steps share the CoinCap pool anyway, and a step per process would
    # cost seconds of start-up for each of the checks.
    executor=dg.in_process_executor,
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
