"""Time to failure of each bad configuration of issue 16, as a user meets it: `dagster asset
materialize --select asset_history` with one setting wrong, from launch to exit.

python benchmarks/bad_config.py [--only NAME ...] [--skip-retried]

Prints, per case: seconds from launch until the command exits (what the user waits), seconds
from the run's start to its failure (what criptopipe spends; the rest is Dagster loading the
project), the attempts the step made, and whether a marker password or key showed up in the
command's output. The cases are the table in criptopipe_tests/e2e/test_bad_config.py, plus
COINCAP_BASE_URL at a closed port, which is retried on purpose (real waits here). Servers: a
throwaway PostgreSQL (warehouse and Dagster instance) and MongoDB wire server, the sandbox.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test helpers: servers, the case table, the login-refusing proxy
RETRIED = "coincap-closed-port"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="case names to run (default: all)")
    parser.add_argument("--skip-retried", action="store_true", help=f"leave out {RETRIED}")
    a = parser.parse_args()
    # stopped with SIGTERM, still stop the throwaway servers (the ExitStack below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    import dagster as dg
    import psycopg
    from dagster import DagsterEventType as Kind
    from psycopg import sql

    from criptopipe.local.ports import free_port
    from criptopipe.sources.coincap.sandbox import SandboxServer
    from criptopipe_tests.e2e import test_bad_config as table
    from criptopipe_tests.e2e.dagster_ui import instance_env
    from criptopipe_tests.mongo_auth import refusing_logins
    from criptopipe_tests.servers import throwaway_servers

    cases = [(c.name, c.env, c.cli or ("--partition", table.DAY)) for c in table.CASES]
    if not a.skip_retried:
        cases.append((RETRIED, {"COINCAP_BASE_URL": "http://127.0.0.1:{closed}/v3"}, None))
    if a.only:
        cases = [c for c in cases if c[0] in a.only]

    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="criptopipe-bench-"))
        tmp.chmod(0o755)
        stack.callback(shutil.rmtree, tmp, True)
        pg, mongo = stack.enter_context(throwaway_servers(tmp / "servers"))
        role = f"bench_{table.MARK}"
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(table.PG_PASSWORD)
                )
            )
        sandbox = stack.enter_context(SandboxServer(port=0, key=table.API_KEY, coins=20))
        gate = stack.enter_context(refusing_logins(mongo.url()))
        servers = {"postgres": pg.url(), "postgres_dagster": pg.url("dagster")}
        home = tmp / "home"
        env = {**os.environ, **instance_env(servers, home, ROOT / "dagster.yaml")}
        values = {
            "role": role,
            "password": table.PG_PASSWORD,
            "pg_host": "127.0.0.1",
            "pg_port": str(pg.port),
            "db": "criptopipe",
            "closed": str(free_port()),
            "mongo_db": "bench",
            "mongo_port": str(mongo.port),
            "gate": str(gate),
            "sandbox_port": sandbox.base_url.split(":")[2].split("/")[0],
        }
        env |= {
            "DATABASE_URL": table.PG.format(**values),
            "MONGODB_URI": mongo.url("bench"),
            "CRIPTOPIPE_PG_SCHEMA": "bench_bad_config",
            "COINCAP_BASE_URL": sandbox.base_url,
            "COINCAP_API_KEY": table.API_KEY,
            "CRIPTOPIPE_COINS": "bitcoin,ethereum",
        }
        os.environ.update({k: v for k, v in env.items() if k.startswith("DAGSTER_")})
        instance = stack.enter_context(dg.DagsterInstance.from_config(str(home)))

        print(f"{'case':<24} {'to exit':>8} {'in run':>8} {'attempts':>8}  leaked  message")
        worst = 0.0
        for name, overrides, cli in cases:
            case_env = {**env, **{k: v.format(**values) for k, v in overrides.items()}}
            before = {r.run_id for r in instance.get_runs()}
            command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m"]
            command += ["criptopipe.definitions", "--select", "asset_history"]
            command += list(cli or ("--partition", table.DAY))
            started = time.monotonic()
            res = subprocess.run(
                command, env=case_env, capture_output=True, text=True, cwd=str(ROOT), timeout=600
            )
            waited = time.monotonic() - started
            (run_id,) = {r.run_id for r in instance.get_runs()} - before
            logs = list(instance.all_logs(run_id))
            kinds = {e.dagster_event.event_type: e for e in logs if e.dagster_event}
            ended = kinds.get(Kind.RUN_FAILURE) or kinds[Kind.RUN_SUCCESS]
            in_run = ended.timestamp - kinds[Kind.RUN_START].timestamp
            retries = [e for e in logs if e.dagster_event and e.dagster_event.is_step_up_for_retry]
            message = _message(kinds.get(Kind.STEP_FAILURE))
            leaked = any(m in res.stdout + res.stderr for m in table.MARKERS)
            ok = res.returncode != 0
            print(
                f"{name:<24} {waited:>7.1f}s {in_run:>7.1f}s {1 + len(retries):>8}  "
                f"{'YES' if leaked else 'no':<6}  {message[:90] if ok else 'DID NOT FAIL'}"
            )
            if name != RETRIED:
                worst = max(worst, waited)
        print(f"slowest bad configuration (retried case aside): {worst:.1f}s to exit")
        load = os.getloadavg()
        print(
            f"load average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs"
        )
    return 0


def _message(entry: object) -> str:
    """A step failure's own message (a Failure's description, under any retry wrapper)."""
    event = getattr(entry, "dagster_event", None)
    error = getattr(getattr(event, "event_specific_data", None), "error", None)
    while error is not None and error.cause is not None and "Failure" not in (error.cls_name or ""):
        error = error.cause
    return error.message.split(": ", 1)[-1].strip() if error is not None else ""


if __name__ == "__main__":
    raise SystemExit(main())
