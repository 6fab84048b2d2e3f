"""Loading the definitions prints no warning: no Dagster deprecation, beta, preview or
supersession notice, no RuntimeWarning. The few preview/beta APIs the project needs (a single-run
BackfillPolicy, partitioned checks, dagster-pandas' frame types) each silence their own warning
where they are used, with a comment saying why; any other warning fails here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LOAD = (
    "import criptopipe.definitions as d\n"
    "defs = d.defs()\n"
    "defs.resolve_all_job_defs()\n"
    "defs.resolve_asset_graph()\n"
)


def test_loading_the_definitions_prints_no_warning(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONWARNINGS",))}
    res = subprocess.run(
        [sys.executable, "-W", "always", "-c", LOAD],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,  # no .env, no dagster.yaml: the package alone
        env=env,
    )
    assert res.returncode == 0, res.stderr[-4000:]
    warnings = [line for line in (res.stdout + res.stderr).splitlines() if "Warning" in line]
    assert warnings == []


def test_loading_the_definitions_leaves_ccxt_for_the_runs_that_call_an_exchange(
    tmp_path: Path,
) -> None:
    # CCXT takes seconds to import; every Dagster process (each run, the UI, the daemon, a
    # failing run's one line) loads the definitions, so only a request to an exchange imports it
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            LOAD + "import sys\nprint(sorted(m for m in sys.modules if m.startswith('ccxt')))\n",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-4000:]
    assert res.stdout.strip().splitlines()[-1] == "[]"
