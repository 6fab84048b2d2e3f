"""The one Definitions object, built from `criptopipe/defs/`.

Load it with `dagster dev -m criptopipe.definitions` (what `make dev` does through
`workspace.yaml`), `dagster asset materialize -m criptopipe.definitions --select ...`, or `dg`
(`[tool.dg]` in pyproject.toml points at this module). Nothing here reads the environment:
resources resolve their settings when a run starts.
"""

from __future__ import annotations

import dagster as dg

from criptopipe.defs.assets import all_assets
from criptopipe.defs.checks import coincap_checks
from criptopipe.defs.exchange_checks import exchange_checks
from criptopipe.defs.executor import pool_aware_in_process_executor
from criptopipe.defs.jobs import jobs
from criptopipe.defs.resources import resources
from criptopipe.defs.schedules import schedules
from criptopipe.defs.sensors import sensors

defs = dg.Definitions(
    # One process per run: steps share the CoinCap pool anyway, and a step per process would
    # cost seconds of start-up for each of the checks. Dagster's in-process executor with a pool
    # wait that sleeps, hears SIGTERM and frees slots of dead runs (defs/executor.py).
    executor=pool_aware_in_process_executor,
    assets=all_assets,
    asset_checks=[*coincap_checks, *exchange_checks],
    jobs=jobs,
    schedules=schedules,
    sensors=sensors,
    resources=resources(),
)
