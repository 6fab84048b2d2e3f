"""Candles backfill benchmark: a year of daily candles x the top N coins x Binance and Kraken.

Starts the exchange sandbox in its own process (so the server does not share the client's GIL),
maps CoinCap's top N coins (the sandbox universe's rank order, as the CoinCap sandbox serves it)
onto both exchanges through real CCXT, fetches the window for every mapped pair concurrently,
and prints per exchange the HTTP requests made against the physical minimum
(market load + pairs x ceil(days / max candles per request)), the used Binance weight, candles,
reported gaps and wall time.

CCXT's rate limiter is on, with its production spacing by default (Binance 50 ms and Kraken
1000 ms per unit of endpoint cost: a klines call costs 0.4, an OHLC call 1.2); pass shorter
values to measure the pipeline rather than the exchanges' politeness, and `--latency-ms` to add
a network round trip to every sandbox answer.

Then (unless `--no-pipeline`) the same window through the pipeline: `exchange_candles` as ONE
Dagster range run (coins mapped by the symbols of a `raw_assets` snapshot of the top N, every
candle written to PostgreSQL and MongoDB through the IO manager), with the requests the sandbox
counted, the physical minimum the run reported, the rows written and the wall time.

    python benchmarks/candles_bench.py                                   # 365 d x top 20 x 2
    python benchmarks/candles_bench.py --rate-limit-ms binance=5,kraken=100 --latency-ms 30

Servers for the pipeline stage: a throwaway PostgreSQL + MongoDB wire server unless
DATABASE_URL / MONGODB_URI are set.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from criptopipe.local.ports import free_port  # noqa: E402
from criptopipe.sources.coincap.sandbox.universe import Universe  # noqa: E402
from criptopipe.sources.exchanges import (  # noqa: E402
    ExchangeSettings,
    TrackedCoin,
    minimum_requests,
    open_exchanges,
)


def parse_limits(text: str) -> dict[str, float]:
    out = {}
    for part in text.split(","):
        if part.strip():
            exchange, ms = part.split("=")
            out[exchange.strip()] = float(ms)
    return out


async def backfill(
    settings: ExchangeSettings, coins: list[TrackedCoin], first: date, end: date
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    async with open_exchanges(settings) as clients:
        loaded = time.perf_counter() - started

        async def one(exchange: str) -> None:
            client = clients[exchange]
            t0 = time.perf_counter()
            mapping = client.map_coins(coins)
            symbols = [m.symbol for m in mapping.matches]
            results = await client.fetch_many(symbols, first, end)
            meter = client.meter.snapshot()
            out[exchange] = {
                "pairs": len(symbols),
                "unmapped": [p.coin_id for p in mapping.problems],
                "requests": meter.requests,
                "minimum": client.minimum_requests(len(symbols), first, end),
                "retries": meter.retries,
                "weight": meter.max_used_weight_1m,
                "candles": sum(len(r.candles) for r in results),
                "gap_days": sum(g.days for r in results for g in r.gaps),
                "fetch_s": time.perf_counter() - t0,
            }

        await asyncio.gather(*(one(ex) for ex in clients))
    total = time.perf_counter() - started
    for row in out.values():
        row["markets_s"], row["total_s"] = loaded, total
    return out


def pipeline(
    base: str, top_n: int, first: date, end: date, rate_limits: dict[str, float]
) -> dict[str, Any]:
    """`exchange_candles` for [first, end) as one in-process Dagster range run, both stores."""
    import shutil
    import tempfile
    from contextlib import ExitStack

    import dagster as dg
    import httpx

    from criptopipe.defs.assets.coincap import raw_assets
    from criptopipe.defs.assets.exchanges import exchange_candles
    from criptopipe.defs.exchange_resource import ExchangesResource
    from criptopipe.defs.resources import CoinUniverseResource
    from criptopipe.sources.coincap.sandbox import SandboxServer
    from criptopipe_tests.factories import pipeline_resources
    from criptopipe_tests.servers import throwaway_servers

    with ExitStack() as stack:
        if os.environ.get("DATABASE_URL") and os.environ.get("MONGODB_URI"):
            pg_url, mongo_uri = os.environ["DATABASE_URL"], os.environ["MONGODB_URI"]
        else:
            tmp = Path(tempfile.mkdtemp(prefix="criptopipe-candles-bench-"))
            tmp.chmod(0o755)  # the `postgres` user must be able to enter it
            stack.callback(shutil.rmtree, tmp, True)
            pg, mongo = stack.enter_context(throwaway_servers(tmp / "servers"))
            pg_url, mongo_uri = pg.url(), mongo.url()
        coincap = stack.enter_context(SandboxServer(port=0, key="test", coins=300))
        urls = {ex: f"{base}/{ex}" for ex in ("binance", "kraken")}
        resources = {
            **pipeline_resources(pg_url, "bench_candles", mongo_uri, coincap.base_url, [], urls),
            "universe": CoinUniverseResource(top_n=top_n),
            "exchanges": ExchangesResource(url_overrides=urls, rate_limit_ms=rate_limits),
        }
        latest = end - timedelta(days=1)
        assert dg.materialize([raw_assets], partition_key=str(latest), resources=resources).success
        httpx.post(f"{base}/__admin/reset", timeout=10)
        started = time.perf_counter()
        result = dg.materialize(
            [exchange_candles],
            resources=resources,
            tags={
                "dagster/asset_partition_range_start": str(first),
                "dagster/asset_partition_range_end": str(latest),
            },
        )
        seconds = time.perf_counter() - started
        stats = httpx.get(f"{base}/__admin/stats", timeout=10).json()
        meta = result.asset_materializations_for_node("exchange_candles")[0].metadata
        return {
            "seconds": seconds,
            "requests": {ex: stats[ex]["requests"] for ex in ("binance", "kraken")},
            "minimum": meta["physical_minimum_requests"].value,
            "rows": result.asset_materializations_for_node("exchange_candles")[-1]
            .metadata["rows"]
            .value,
            "pairs": meta["pairs"].value,
            "missing_days": meta["missing_days"].value,
        }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--coins", type=int, default=20, help="top N CoinCap coins (default 20)")
    p.add_argument("--days", type=int, default=365, help="closed days up to yesterday")
    p.add_argument(
        "--rate-limit-ms",
        default="binance=50,kraken=1000",
        help="CCXT rateLimit per exchange (default: CCXT's production values)",
    )
    p.add_argument("--latency-ms", type=int, default=0, help="added to every sandbox answer")
    p.add_argument("--runs", type=int, default=1, help="repeat (the first run warms the sandbox)")
    p.add_argument("--no-pipeline", action="store_true", help="the client layer only")
    a = p.parse_args()

    universe = Universe(coins=300)
    coins = [TrackedCoin(id=i, symbol=universe.by_id[i].symbol) for i in universe.ids[: a.coins]]
    today = datetime.now(timezone.utc).date()
    first, end = today - timedelta(days=a.days), today
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "criptopipe.sources.exchanges.sandbox",
            "--port",
            str(port),
            "--latency-ms",
            str(a.latency_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ},
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # the banner: serving
        base = f"http://127.0.0.1:{port}"
        settings = ExchangeSettings(
            url_overrides={"binance": f"{base}/binance", "kraken": f"{base}/kraken"},
            rate_limit_ms=parse_limits(a.rate_limit_ms),
        )
        print(
            f"candles backfill: {a.days} closed days ({first}..{end - timedelta(days=1)}) x top "
            f"{a.coins} coins x binance, kraken; sandbox latency {a.latency_ms} ms; "
            f"CCXT rateLimit {a.rate_limit_ms}"
        )
        for run in range(1, a.runs + 1):
            rows = asyncio.run(backfill(settings, coins, first, end))
            print(
                f"\nrun {run}: wall time {rows['binance']['total_s']:.2f} s "
                f"(market loads {rows['binance']['markets_s']:.2f} s)"
            )
            print(
                f"  {'exchange':9} {'pairs':>5} {'requests':>8} {'minimum':>7} {'retries':>7} "
                f"{'weight':>6} {'candles':>7} {'gap days':>8} {'fetch s':>7}  unmapped"
            )
            for exchange, r in rows.items():
                assert r["minimum"] == minimum_requests(exchange, r["pairs"], first, end, today)
                print(
                    f"  {exchange:9} {r['pairs']:>5} {r['requests']:>8} {r['minimum']:>7} "
                    f"{r['retries']:>7} {r['weight'] or '-':>6} {r['candles']:>7} "
                    f"{r['gap_days']:>8} {r['fetch_s']:>7.2f}  {', '.join(r['unmapped']) or '-'}"
                )
            made = sum(r["requests"] for r in rows.values())
            least = sum(r["minimum"] for r in rows.values())
            print(f"  total requests {made} vs physical minimum {least} ({made / least:.2f}x)")
        if not a.no_pipeline:
            r = pipeline(base, a.coins, first, end, parse_limits(a.rate_limit_ms))
            made = sum(r["requests"].values())
            print(
                f"\npipeline: exchange_candles as one range run, {r['pairs']} pairs, "
                f"{r['rows']:,} rows written to PostgreSQL and MongoDB, {r['missing_days']} "
                f"(pair, day)s reported missing"
            )
            print(
                f"  requests {made} ({', '.join(f'{k} {v}' for k, v in r['requests'].items())}) "
                f"vs physical minimum {r['minimum']}; wall time {r['seconds']:.2f} s "
                f"({r['rows'] / r['seconds']:,.0f} rows/s)"
            )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
