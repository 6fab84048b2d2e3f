"""The exchange sandbox's shared state: counters, request log, fault rules, skew and Binance's
weight minute, guarded by one lock because the server answers on many threads. `Reply` is an
answer decided before routing (an error body, a fault)."""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

from criptopipe.sources.exchanges.sandbox.catalogue import EXCHANGES

BINANCE_WEIGHT_LIMIT = 6000
#: Binance request weights (spot, since 2023-08-25)
BINANCE_WEIGHTS = {"exchangeInfo": 20, "klines": 2, "time": 1}
FAULT_KINDS = frozenset(
    {
        "status",
        "throttle",
        "ban",
        "hang",
        "truncate",
        "malformed",
        "unknown_symbol",
        "error",
        "altname_key",
        "empty",
    }
)


class Reply(Exception):
    """An answer decided before routing (an error body, a fault)."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class State:
    """Counters, request log, faults, skew and Binance's weight minute, shared by all threads."""

    def __init__(self, latency_ms: int = 0) -> None:
        self.lock = threading.Lock()
        self.faults: dict[str, Any] = {
            "latency_ms": latency_ms,
            "binance_weight_limit": BINANCE_WEIGHT_LIMIT,
            "rules": [],
        }
        self.skew: dict[str, float] = {}
        self.reset()

    def reset(self) -> None:
        """Zero the counters; requests still in flight (a hang) are not counted afterwards."""
        with self.lock:
            self.epoch = getattr(self, "epoch", 0) + 1
            self.counts: dict[str, dict[str, Any]] = {
                ex: {"requests": 0, "weight": 0, "by_route": {}} for ex in EXCHANGES
            }
            self.log: list[dict[str, Any]] = []
            self.minute, self.used_weight = -1, 0

    def set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        rules = []
        for rule in body.get("rules", []) or []:
            if rule.get("kind") not in FAULT_KINDS:
                raise ValueError(
                    f"unknown fault kind {rule.get('kind')!r}; use one of {sorted(FAULT_KINDS)}"
                )
            if rule.get("exchange") not in (None, *EXCHANGES):
                raise ValueError(f"unknown exchange {rule['exchange']!r}; use one of {EXCHANGES}")
            rules.append(dict(rule))
        with self.lock:
            self.faults = {
                "latency_ms": int(body.get("latency_ms") or 0),
                "binance_weight_limit": int(
                    body.get("binance_weight_limit") or BINANCE_WEIGHT_LIMIT
                ),
                "rules": rules,
            }
            self.minute, self.used_weight = -1, 0
            return json.loads(json.dumps(self.faults))

    def set_skew(self, body: dict[str, Any]) -> dict[str, float]:
        skew = {}
        for exchange, pct in body.items():
            if exchange not in EXCHANGES:
                raise ValueError(f"unknown exchange {exchange!r}; use one of {EXCHANGES}")
            skew[exchange] = float(pct)
        with self.lock:
            self.skew = skew
            return dict(skew)

    def take_rules(self, exchange: str, path: str) -> list[dict[str, Any]]:
        """The rules that fire for this request (consuming one of their `times`)."""
        fired = []
        with self.lock:
            for rule in self.faults["rules"]:
                times = rule.get("times", 1)
                if times is not None and times <= 0:
                    continue
                if rule.get("exchange") not in (None, exchange):
                    continue
                if rule.get("path") and not re.search(rule["path"], path):
                    continue
                if times is not None:
                    rule["times"] = times - 1
                fired.append(dict(rule))
        return fired

    def spend_weight(self, weight: int) -> tuple[int, float | None]:
        """Binance's REQUEST_WEIGHT minute: the weight used so far this minute (this request
        included) and, past the limit, the seconds until the minute ends."""
        now = time.time()
        minute = int(now // 60)
        with self.lock:
            if minute != self.minute:
                self.minute, self.used_weight = minute, 0
            self.used_weight += weight
            limit = self.faults.get("binance_weight_limit") or BINANCE_WEIGHT_LIMIT
            over = self.used_weight > limit
            return self.used_weight, (60 - now % 60) if over else None

    def record(
        self,
        exchange: str,
        route: str,
        path: str,
        status: int,
        weight: int,
        started: float,
        epoch: int,
    ) -> None:
        with self.lock:
            if epoch != self.epoch:
                return
            counts = self.counts[exchange]
            counts["requests"] += 1
            counts["weight"] += weight
            counts["by_route"][route] = counts["by_route"].get(route, 0) + 1
            self.log.append(
                {
                    "exchange": exchange,
                    "route": route,
                    "path": path,
                    "status": status,
                    "weight": weight,
                    "ms": round((time.monotonic() - started) * 1000, 1),
                }
            )

    def stats(self) -> dict[str, Any]:
        with self.lock:
            out: dict[str, Any] = json.loads(json.dumps(self.counts))
            out["requests"] = list(self.log)
            out["used_weight_1m"] = self.used_weight
            out["skew"] = dict(self.skew)
            return out
