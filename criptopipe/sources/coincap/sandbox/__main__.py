"""`criptopipe-sandbox --port 8555 --key test`: serve the CoinCap v3 sandbox until stopped."""

from __future__ import annotations

import argparse
import json
import signal
import threading

from criptopipe.sources.coincap.sandbox.server import SandboxServer


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="criptopipe-sandbox", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8555)
    p.add_argument("--key", default=None, help="API key to require (default: none required)")
    p.add_argument("--coins", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--latency-ms", type=int, default=0)
    p.add_argument("--rate-limit", type=int, default=None, help="calls/minute (v3: 600)")
    p.add_argument("--faults", default=None, help="JSON body as for POST /__admin/faults")
    a = p.parse_args(argv)
    faults = json.loads(a.faults) if a.faults else None
    server = SandboxServer(
        port=a.port,
        key=a.key,
        coins=a.coins,
        seed=a.seed,
        host=a.host,
        latency_ms=a.latency_ms,
        rate_limit_per_minute=a.rate_limit,
        faults=faults,
    ).start()
    print(f"CoinCap sandbox (SYNTHETIC data, {a.coins} coins) on {server.base_url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
