"""`criptopipe-exchange-sandbox --port 8556`: serve the Binance + Kraken imitation until stopped."""

from __future__ import annotations

import argparse
import json
import signal
import threading

from criptopipe.sources.exchanges.sandbox.server import ExchangeSandbox


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="criptopipe-exchange-sandbox", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8556)
    p.add_argument("--coins", type=int, default=300, help="same as the CoinCap sandbox's")
    p.add_argument("--seed", type=int, default=0, help="same as the CoinCap sandbox's")
    p.add_argument("--latency-ms", type=int, default=0)
    p.add_argument("--faults", default=None, help="JSON body as for POST /__admin/faults")
    p.add_argument(
        "--skew", default=None, help='JSON body as for POST /__admin/skew: {"kraken": 5}'
    )
    a = p.parse_args(argv)
    server = ExchangeSandbox(
        port=a.port,
        coins=a.coins,
        seed=a.seed,
        latency_ms=a.latency_ms,
        host=a.host,
        faults=json.loads(a.faults) if a.faults else None,
        skew=json.loads(a.skew) if a.skew else None,
    ).start()
    urls = ", ".join(f"{ex} {url}" for ex, url in server.urls.items())
    print(f"Exchange sandbox (SYNTHETIC candles, {a.coins} coins): {urls}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
