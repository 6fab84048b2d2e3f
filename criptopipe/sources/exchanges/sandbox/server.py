"""A local HTTP server answering like Binance's and Kraken's public REST endpoints that CCXT calls.

One server imitates both exchanges under a prefix each, with the real paths below it:
`/binance/api/v3/{exchangeInfo,klines,time}` and `/kraken/0/public/{Assets,AssetPairs,OHLC,Time}`.
CCXT reaches it by overriding the exchange's URLs (`ExchangeSandbox.url("binance")` is the root
that `ExchangeSettings.url_overrides` takes), so the real CCXT code path runs over HTTP.

Shapes follow ../shared/docs/exchanges-ccxt.md (`binance.py`, `kraken.py`). Faults are injected
like the CoinCap sandbox's: rules with a `kind`, an optional `exchange`, a `path` regex on path and
query, and `times` (null: forever) (`faults.py`, `state.py`). Admin routes (`/__admin/...`) are
free and not counted (`handler.py`).
"""

from __future__ import annotations

import threading
from typing import Any

from criptopipe.sources.coincap.sandbox.universe import Universe
from criptopipe.sources.exchanges.sandbox.catalogue import EXCHANGES
from criptopipe.sources.exchanges.sandbox.handler import ExchangeHTTPServer
from criptopipe.sources.exchanges.sandbox.market import ExchangeMarket
from criptopipe.sources.exchanges.sandbox.state import State


class ExchangeSandbox:
    """Both imitated exchanges in a background thread: `with ExchangeSandbox(port=0) as sb:`.

    `coins` and `seed` must match the CoinCap sandbox's for the two sources to agree.
    """

    def __init__(
        self,
        port: int = 0,
        coins: int = 300,
        seed: int = 0,
        latency_ms: int = 0,
        host: str = "127.0.0.1",
        faults: dict[str, Any] | None = None,
        skew: dict[str, float] | None = None,
    ) -> None:
        self.host, self.requested_port = host, port
        self.universe = Universe(coins=coins, seed=seed)
        self.market = ExchangeMarket(self.universe)
        self.state = State(latency_ms)
        if faults:
            self.state.set_faults({"latency_ms": latency_ms, **faults})
        if skew:
            self.state.set_skew(skew)
        self._httpd: ExchangeHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the exchange sandbox is not running")
        return int(self._httpd.server_address[1])

    def url(self, exchange: str) -> str:
        """The root that stands for the exchange's API host (for `url_overrides`)."""
        if exchange not in EXCHANGES:
            raise ValueError(f"the sandbox imitates {EXCHANGES}, not {exchange!r}")
        return f"http://{self.host}:{self.port}/{exchange}"

    @property
    def urls(self) -> dict[str, str]:
        return {ex: self.url(ex) for ex in EXCHANGES}

    def start(self) -> ExchangeSandbox:
        self._httpd = ExchangeHTTPServer((self.host, self.requested_port), self.market, self.state)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="exchange-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.close_connections()
            self._httpd = None

    def __enter__(self) -> ExchangeSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def reset(self) -> None:
        self.state.reset()

    def set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.state.set_faults(body)

    def set_skew(self, body: dict[str, float]) -> dict[str, float]:
        return self.state.set_skew(body)
