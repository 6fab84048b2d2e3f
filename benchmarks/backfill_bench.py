"""Backfill benchmark: a connector-style per-day load vs Dagster's default vs criptopipe.

Against the sandbox with a fixed latency per request and v3's 600 calls/minute enforced, it
backfills `asset_history` for N coins over D days three ways, on the same servers:

1. connector: one request per coin per day, rows inserted one by one through an ORM
   (SQLAlchemy), the way per-day connectors and first-draft scripts do it;
2. dagster-default: one Dagster run per partition, one request per coin per run;
3. criptopipe: one single-run ranged backfill (one request per coin per span).

and prints requests, credits, Dagster runs, wall time, rows/s and peak memory for each, the
physical minimum, and the ratios. At 600 calls/minute, (1) and (2) need N x D requests (15
minutes for 100 x 90), so they run on a sample (`--sample-coins` coins, `--sample-days` days)
and are scaled linearly to N x D -- requests, credits and time all grow linearly with the
number of (coin, day) pairs once the rate limit binds; the table says which rows are scaled.

    python benchmarks/backfill_bench.py                      # 100 coins x 90 days
    python benchmarks/backfill_bench.py --memory --rows 1000000   # peak memory of (3) only

Servers: a throwaway PostgreSQL + MongoDB wire server unless DATABASE_URL / MONGODB_URI are set.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test helpers (throwaway servers)
KEY = "bench"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------- children


def child_connector(args: dict) -> dict:  # type: ignore[type-arg]
    """One request per coin per day; one ORM insert + commit per row."""
    import httpx
    from sqlalchemy import Column, Date, Numeric, String, create_engine, text
    from sqlalchemy.orm import Session, declarative_base

    Base = declarative_base()

    class HistoryRow(Base):  # type: ignore[valid-type, misc]
        __tablename__ = "asset_history"
        __table_args__ = {"schema": "bench_connector"}
        coin_id = Column(String, primary_key=True)
        day = Column(Date, primary_key=True)
        price_usd = Column(Numeric)

    url = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS bench_connector CASCADE"))
        conn.execute(text("CREATE SCHEMA bench_connector"))
    Base.metadata.create_all(engine)
    first = date.fromisoformat(args["first"])
    rows = 0
    started = time.monotonic()
    with httpx.Client(
        base_url=args["base_url"], headers={"Authorization": f"Bearer {KEY}"}
    ) as http:
        with Session(engine) as session:
            for coin in args["coins"]:
                for i in range(args["days"]):
                    day = first + timedelta(days=i)
                    start = int(
                        datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()
                        * 1000
                    )
                    params = {"interval": "d1", "start": start, "end": start + 86_400_000}
                    while True:
                        resp = http.get(f"/assets/{coin}/history", params=params, timeout=30)
                        if resp.status_code == 429:  # what connectors do: wait and retry
                            time.sleep(float(resp.headers.get("Retry-After", "1")))
                            continue
                        resp.raise_for_status()
                        break
                    for point in resp.json()["data"]:
                        session.add(HistoryRow(coin_id=coin, day=day, price_usd=point["priceUsd"]))
                        session.commit()
                        rows += 1
    return {"rows": rows, "seconds": time.monotonic() - started, "runs": 0}


def _resources() -> dict:  # type: ignore[type-arg]
    from criptopipe.definitions import defs

    return dict(defs().resources or {})


def child_dagster(args: dict, single_run: bool) -> dict:  # type: ignore[type-arg]
    import dagster as dg

    from criptopipe.defs.assets.coincap import asset_history

    instance = dg.DagsterInstance.get()
    first = date.fromisoformat(args["first"])
    last = first + timedelta(days=args["days"] - 1)
    resources = _resources()
    started = time.monotonic()
    runs = 0
    if single_run:
        result = dg.materialize(
            [asset_history],
            resources=resources,
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": str(first),
                "dagster/asset_partition_range_end": str(last),
            },
        )
        assert result.success
        runs = 1
    else:
        for i in range(args["days"]):
            result = dg.materialize(
                [asset_history],
                resources=resources,
                instance=instance,
                partition_key=str(first + timedelta(days=i)),
            )
            assert result.success
            runs += 1
    seconds = time.monotonic() - started
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        row = conn.execute(
            f"SELECT count(*) FROM {os.environ['CRIPTOPIPE_PG_SCHEMA']}.asset_history"  # noqa: S608
        ).fetchone()
    return {"rows": int(row[0]) if row else 0, "seconds": seconds, "runs": runs}


def run_child(argv: list[str]) -> int:
    mode, payload = argv[0], json.loads(argv[1])
    if mode == "connector":
        out = child_connector(payload)
    elif mode == "dagster-default":
        out = child_dagster(payload, single_run=False)
    else:
        out = child_dagster(payload, single_run=True)
    out["peak_mb"] = _peak_rss_mb()
    print("RESULT " + json.dumps(out), flush=True)
    return 0


# ----------------------------------------------------------------------------- parent


def _spawn(mode: str, payload: dict, env: dict[str, str]) -> dict:  # type: ignore[type-arg]
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, json.dumps(payload)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        cwd=str(ROOT),
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-6000:])
        raise SystemExit(f"{mode} failed (exit {proc.returncode})")
    return json.loads(lines[-1][len("RESULT ") :])  # type: ignore[no-any-return]


def _instance_env(home: Path, pg_url: str) -> dict[str, str]:
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    pg = urlsplit(pg_url)
    return {
        "DAGSTER_HOME": str(home),
        "DAGSTER_ARTIFACTS_DIR": str(home / "artifacts"),
        "DAGSTER_COMPUTE_LOGS_DIR": str(home / "logs"),
        "DAGSTER_PG_HOST": pg.hostname or "127.0.0.1",
        "DAGSTER_PG_PORT": str(pg.port or 5432),
        "DAGSTER_PG_USER": pg.username or "postgres",
        "DAGSTER_PG_PASSWORD": pg.password or "",
        "DAGSTER_PG_DB": os.environ.get("BENCH_DAGSTER_DB", "dagster"),
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return run_child(sys.argv[2:])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--coins", type=int, default=100)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--first", default="2024-01-01")
    p.add_argument("--latency-ms", type=int, default=25)
    p.add_argument("--rate-limit", type=int, default=600, help="calls/minute the sandbox enforces")
    p.add_argument("--sample-coins", type=int, default=10, help="coins approach 1 really runs")
    p.add_argument("--sample-days", type=int, default=9, help="partitions approach 2 really runs")
    p.add_argument("--span-days", type=int, default=365)
    p.add_argument("--memory", action="store_true", help="only approach 3, for peak memory")
    p.add_argument("--rows", type=int, default=1_000_000, help="rows for --memory")
    a = p.parse_args()

    from criptopipe.sources.coincap.credits import credits_for
    from criptopipe.sources.coincap.sandbox import SandboxServer
    from criptopipe_tests.servers import throwaway_servers

    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="criptopipe-bench-"))
        tmp.chmod(0o755)
        stack.callback(shutil.rmtree, tmp, True)
        if os.environ.get("DATABASE_URL") and os.environ.get("MONGODB_URI"):
            pg_url, mongo_uri = os.environ["DATABASE_URL"], os.environ["MONGODB_URI"]
        else:
            pg, mongo = stack.enter_context(throwaway_servers(tmp / "servers"))
            pg_url, mongo_uri = pg.url(), mongo.url()
        if a.memory:
            days = a.days if a.days != 90 else 1000
            coins = math.ceil(a.rows / days)
            span = max(a.span_days, days)
            rate = None
        else:
            coins, days, span, rate = a.coins, a.days, a.span_days, a.rate_limit
        sandbox = stack.enter_context(
            SandboxServer(
                port=0,
                key=KEY,
                coins=max(coins + 20, 150),
                latency_ms=a.latency_ms,
                rate_limit_per_minute=rate,
            )
        )
        ids = sandbox.universe.ids[:coins]
        home = tmp / "dagster_home"
        home.mkdir()
        base_env = {
            **_instance_env(home, pg_url),
            "DATABASE_URL": pg_url,
            "MONGODB_URI": mongo_uri,
            "COINCAP_BASE_URL": sandbox.base_url,
            "COINCAP_API_KEY": KEY,
            "COINCAP_CREDIT_BUDGET": "off",
        }
        results: dict[str, dict] = {}  # type: ignore[type-arg]

        def measure(
            name: str, mode: str, n_coins: int, n_days: int, schema: str, scale: float
        ) -> None:
            sandbox.reset()
            payload = {
                "base_url": sandbox.base_url,
                "coins": ids[:n_coins],
                "days": n_days,
                "first": a.first,
            }
            env = {
                **base_env,
                "CRIPTOPIPE_PG_SCHEMA": schema,
                "CRIPTOPIPE_COINS": ",".join(ids[:n_coins]),
                "CRIPTOPIPE_HISTORY_SPAN_DAYS": str(span),
            }
            print(f"running {name}: {n_coins} coins x {n_days} days ...", flush=True)
            out = _spawn(mode, payload, env)
            stats = sandbox.stats()
            out.update(calls=stats["calls"], credits=stats["credits"], scale=scale)
            results[name] = out

        if not a.memory:
            sc = min(a.sample_coins, coins)
            sd = min(a.sample_days, days)
            measure("1 connector (per day, ORM)", "connector", sc, days, "bench_c", coins / sc)
            measure(
                "2 dagster default (run/partition)",
                "dagster-default",
                coins,
                sd,
                "bench_d",
                days / sd,
            )
        measure("3 criptopipe (one ranged run)", "criptopipe", coins, days, "bench_p", 1.0)

        per_point = 140  # only for the printed minimum; the counter gives the real credits
        chunks = math.ceil(days / span)
        minimum_calls = coins * chunks
        minimum_credits = coins * sum(
            credits_for(40 + per_point * min(span, days - i * span)) for i in range(chunks)
        )
        print()
        print(
            f"asset_history backfill: {coins} coins x {days} days from {a.first}; sandbox latency "
            f"{a.latency_ms} ms/request, rate limit {rate or 'off'}/min"
        )
        print(
            f"physical minimum: {minimum_calls} requests (coins x ceil(days/span {span})), "
            f"~{minimum_credits} credits"
        )
        hdr = f"{'approach':<36} {'requests':>9} {'credits':>9} {'runs':>5} {'wall s':>9} {'rows/s':>9} {'peak MB':>8}"
        print(hdr)
        print("-" * len(hdr))
        for name, r in results.items():
            k = r["scale"]
            rows = r["rows"] * k
            secs = r["seconds"] * k
            mark = "*" if k != 1 else " "
            print(
                f"{name:<36} {r['calls'] * k:>9,.0f} {r['credits'] * k:>9,.0f} {r['runs'] * k:>5.0f} "
                f"{secs:>8,.1f}{mark} {rows / secs if secs else 0:>9,.0f} {r['peak_mb']:>8,.0f}"
            )
        if not a.memory:
            one, two, three = (results[n] for n in results)
            s1, s2, s3 = (r["seconds"] * r["scale"] for r in (one, two, three))
            print(
                "* measured on a sample and scaled linearly to the full backfill "
                f"(approach 1: {min(a.sample_coins, coins)} coins; approach 2: "
                f"{min(a.sample_days, days)} partitions)"
            )
            print()
            print(f"criptopipe requests vs minimum: {three['calls']} / {minimum_calls}")
            print(
                f"credits: connector / criptopipe = {one['credits'] * one['scale'] / three['credits']:.1f}x"
            )
            print(
                f"speed: criptopipe is {s1 / s3:.0f}x faster than the connector, "
                f"{s2 / s3:.0f}x faster than Dagster's default"
            )
        else:
            print(
                f"peak memory of the single-run backfill of {results['3 criptopipe (one ranged run)']['rows']:,} "
                f"rows: {results['3 criptopipe (one ranged run)']['peak_mb']:,.0f} MB"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
