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

    python benchmarks/candles_bench.py                                   # 365 d x top 20 x 2
    python benchmarks/candles_bench.py --rate-limit-ms binance=5,kraken=100 --latency-ms 30
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
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
