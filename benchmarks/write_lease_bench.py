"""What serialising writers costs each write: taking and releasing a write lease, and the
schema check every output runs first (catalog read, no DDL once the tables exist).

python benchmarks/write_lease_bench.py [--n 200]

Servers: a throwaway PostgreSQL unless DATABASE_URL is set (a schema `bench_leases` is used and
dropped).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test helpers (throwaway servers)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="leases taken one after the other")
    a = parser.parse_args()

    import psycopg
    from psycopg import sql

    from criptopipe.datasets import all_datasets
    from criptopipe.storage import leases
    from criptopipe.storage.postgres import PostgresStore
    from criptopipe.storage.slices import Slice
    from criptopipe_tests.servers import throwaway_servers

    with ExitStack() as stack:
        if os.environ.get("DATABASE_URL"):
            url = os.environ["DATABASE_URL"]
        else:
            tmp = Path(tempfile.mkdtemp(prefix="criptopipe-bench-"))
            tmp.chmod(0o755)
            stack.callback(shutil.rmtree, tmp, True)
            pg, _ = stack.enter_context(throwaway_servers(tmp / "servers"))
            url = pg.url()
        store = PostgresStore(url, schema="bench_leases")
        store.ensure_schema(all_datasets())
        try:
            first = date(2024, 1, 1)
            started = time.perf_counter()
            for i in range(a.n):
                day = first + timedelta(days=i)
                slc = Slice(day, day + timedelta(days=1))
                leases.acquire(store, "asset_history", slc, "bench", timeout_s=0).release()
            lease_ms = (time.perf_counter() - started) / a.n * 1000
            started = time.perf_counter()
            for _ in range(a.n // 4 or 1):
                store.ensure_schema(all_datasets())
            schema_ms = (time.perf_counter() - started) / (a.n // 4 or 1) * 1000
        finally:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                        sql.Identifier("bench_leases")
                    )
                )
    print(f"{'take + release a write lease':<44} {lease_ms:>8.1f} ms")
    print(f"{'ensure_schema, every table present':<44} {schema_ms:>8.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
