"""Storage throughput: 1,000,000 asset_history rows through the storage layer vs the raw tools.

PostgreSQL: `PostgresStore.replace_slice` (DELETE + COPY in one transaction) vs `psql \\copy` of
the same rows from a CSV file into a bare table. MongoDB: `MongoStore.replace_slice` vs a raw
`insert_many` of the same documents. Both on the same servers.

    python benchmarks/storage_bench.py [--rows 1000000]

Servers: a throwaway PostgreSQL + MongoDB wire server unless DATABASE_URL / MONGODB_URI are set.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--days", type=int, default=1000)
    p.add_argument("--skip-mongo", action="store_true")
    a = p.parse_args()
    # a SIGTERM unwinds like Ctrl-C, so the throwaway servers are stopped and removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    import psycopg
    import pymongo

    from criptopipe.datasets import ASSET_HISTORY
    from criptopipe.local.postgres import find_pg_bin
    from criptopipe.storage.mongo import MongoStore
    from criptopipe.storage.postgres import PostgresStore
    from criptopipe.storage.slices import Slice
    from criptopipe_tests.factories import history_frame
    from criptopipe_tests.servers import throwaway_servers

    coins = [f"c{i:04d}" for i in range(max(1, a.rows // a.days))]
    first = date(2020, 1, 1)
    fetched = datetime(2025, 1, 1, tzinfo=timezone.utc)
    print(f"building {len(coins) * a.days:,} rows ...", flush=True)
    frame = history_frame(coins, first, a.days, fetched)
    slc = Slice(first, date.fromordinal(first.toordinal() + a.days))
    n = len(frame)

    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="criptopipe-bench-"))
        tmp.chmod(0o755)
        stack.callback(shutil.rmtree, tmp, True)
        if os.environ.get("DATABASE_URL") and os.environ.get("MONGODB_URI"):
            pg_url, mongo_uri = os.environ["DATABASE_URL"], os.environ["MONGODB_URI"]
        else:
            pg, mongo = stack.enter_context(throwaway_servers(tmp / "servers"))
            pg_url, mongo_uri = pg.url(), mongo.url()

        # --- PostgreSQL: psql \copy of a CSV into a bare table with the same columns
        csv_path = tmp / "rows.csv"
        cols = ASSET_HISTORY.column_names
        with csv_path.open("w", newline="") as out:
            w = csv.writer(out)
            for row in frame[cols].itertuples(index=False, name=None):
                w.writerow([v.isoformat() if hasattr(v, "isoformat") else v for v in row])
        os.chmod(csv_path, 0o644)
        store = PostgresStore(pg_url, schema="bench_store")
        store.ensure_schema([ASSET_HISTORY])
        with psycopg.connect(pg_url, autocommit=True) as conn:
            # the same table: same columns, primary key and indexes as the store's
            conn.execute("DROP SCHEMA IF EXISTS bench_raw CASCADE; CREATE SCHEMA bench_raw")
            conn.execute(
                "CREATE TABLE bench_raw.asset_history "
                "(LIKE bench_store.asset_history INCLUDING ALL)"
            )
        psql = shutil.which("psql") or str(find_pg_bin() / "psql")
        parts = urlsplit(pg_url)
        env = {**os.environ, "PGPASSWORD": parts.password or ""}
        started = time.monotonic()
        subprocess.run(
            [
                psql,
                "-h",
                parts.hostname or "127.0.0.1",
                "-p",
                str(parts.port),
                "-U",
                parts.username or "postgres",
                "-d",
                parts.path.lstrip("/"),
                "-q",
                "-c",
                f"\\copy bench_raw.asset_history ({', '.join(cols)}) FROM '{csv_path}' CSV",
            ],
            check=True,
            env=env,
        )
        raw_pg = n / (time.monotonic() - started)

        started = time.monotonic()
        store.replace_slice(ASSET_HISTORY, slc, frame)
        ours_pg = n / (time.monotonic() - started)
        started = time.monotonic()
        store.replace_slice(ASSET_HISTORY, slc, frame)  # a rerun: deletes the slice, copies again
        ours_pg_rerun = n / (time.monotonic() - started)

        if a.skip_mongo:
            print(
                f"{n:,} rows; psql \\copy {raw_pg:,.0f} rows/s; PostgresStore first load "
                f"{ours_pg:,.0f} ({ours_pg / raw_pg:.2f}), rerun {ours_pg_rerun:,.0f} "
                f"({ours_pg_rerun / raw_pg:.2f})"
            )
            return 0
        # --- MongoDB: raw insert_many of the same documents vs the store
        mstore = MongoStore(mongo_uri, database="bench_store")
        mstore.ensure_indexes([ASSET_HISTORY])
        client: pymongo.MongoClient = pymongo.MongoClient(mongo_uri)
        raw_coll = client["bench_raw"]["asset_history"]
        raw_coll.drop()
        # the same documents, built a chunk at a time (memory stays modest); only the
        # insert_many calls are timed, so the raw figure is the server's and the driver's best
        raw_seconds = 0.0
        chunk: list[dict] = []
        for doc in mstore._documents(ASSET_HISTORY, frame, "raw"):
            chunk.append(doc)
            if len(chunk) == 5000:
                started = time.monotonic()
                raw_coll.insert_many(chunk, ordered=False)
                raw_seconds += time.monotonic() - started
                chunk = []
        if chunk:
            started = time.monotonic()
            raw_coll.insert_many(chunk, ordered=False)
            raw_seconds += time.monotonic() - started
        raw_mongo = n / raw_seconds
        started = time.monotonic()
        mstore.replace_slice(ASSET_HISTORY, slc, frame)
        ours_mongo = n / (time.monotonic() - started)
        started = time.monotonic()
        mstore.replace_slice(ASSET_HISTORY, slc, frame)  # a rerun: upserts, then sweeps
        ours_mongo_rerun = n / (time.monotonic() - started)

    print()
    print(f"{n:,} asset_history rows")
    print(f"{'path':<48} {'rows/s':>10} {'vs raw':>7}")
    raw_label = "psql \\copy (raw)"
    print(f"{raw_label:<48} {raw_pg:>10,.0f} {1:>7.2f}")
    print(
        f"{'PostgresStore.replace_slice (first load)':<48} {ours_pg:>10,.0f} {ours_pg / raw_pg:>7.2f}"
    )
    print(
        f"{'PostgresStore.replace_slice (rerun, replaces)':<48} {ours_pg_rerun:>10,.0f} {ours_pg_rerun / raw_pg:>7.2f}"
    )
    print(f"{'pymongo insert_many (raw)':<48} {raw_mongo:>10,.0f} {1:>7.2f}")
    print(
        f"{'MongoStore.replace_slice (first load)':<48} {ours_mongo:>10,.0f} {ours_mongo / raw_mongo:>7.2f}"
    )
    print(
        f"{'MongoStore.replace_slice (rerun, replaces)':<48} {ours_mongo_rerun:>10,.0f} "
        f"{ours_mongo_rerun / raw_mongo:>7.2f}"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak:,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
