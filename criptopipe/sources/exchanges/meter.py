"""Requests per exchange, counted where they leave (CCXT's `fetch`), and Binance's used weight.

Every HTTP request CCXT makes for us is one `sent`, whatever happens next (answered, refused,
timed out). Binance reports the weight used in the current minute on every answer
(`X-MBX-USED-WEIGHT-1M`); the meter keeps the latest and the highest value seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict


class MeterSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    exchange: str
    #: HTTP requests sent (market loads, candle pages and retries alike)
    requests: int = 0
    #: response bytes (decoded bodies, as CCXT read them)
    bytes: int = 0
    #: requests per endpoint, e.g. {"klines": 20, "exchangeInfo": 1}
    by_endpoint: dict[str, int] = {}
    #: attempts our retry loop repeated, and the seconds it waited before them
    retries: int = 0
    waited_s: float = 0.0
    #: Binance: the used weight of the current minute as last reported, and the highest seen
    used_weight_1m: int | None = None
    max_used_weight_1m: int | None = None


class RequestMeter:
    def __init__(self, exchange: str, weight_header: str | None) -> None:
        self.exchange, self.weight_header = exchange, weight_header
        self._requests = self._retries = self._bytes = 0
        self._waited = 0.0
        self._by_endpoint: dict[str, int] = {}
        self._weight: int | None = None
        self._max_weight: int | None = None

    def sent(self, url: str) -> None:
        endpoint = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] or "/"
        self._requests += 1
        self._by_endpoint[endpoint] = self._by_endpoint.get(endpoint, 0) + 1

    def answered(self, headers: Mapping[str, str], size: int = 0) -> None:
        self._bytes += size
        if self.weight_header is None:
            return
        wanted = self.weight_header.lower()
        for key, value in headers.items():
            if key.lower() == wanted:
                try:
                    weight = int(value)
                except ValueError:
                    return
                self._weight = weight
                self._max_weight = max(self._max_weight or 0, weight)
                return

    def retried(self, waited_s: float) -> None:
        self._retries += 1
        self._waited += waited_s

    def snapshot(self) -> MeterSnapshot:
        return MeterSnapshot(
            exchange=self.exchange,
            requests=self._requests,
            bytes=self._bytes,
            by_endpoint=dict(self._by_endpoint),
            retries=self._retries,
            waited_s=round(self._waited, 3),
            used_weight_1m=self._weight,
            max_used_weight_1m=self._max_weight,
        )
