"""A local HTTP server answering like Binance's and Kraken's public REST endpoints that CCXT calls.

One server imitates both exchanges under a prefix each, with the real paths below it:
`/binance/api/v3/{exchangeInfo,klines,time}` and `/kraken/0/public/{Assets,AssetPairs,OHLC,Time}`.
CCXT reaches it by overriding the exchange's URLs (`ExchangeSandbox.url("binance")` is the root
that `ExchangeSettings.url_overrides` takes), so the real CCXT code path runs over HTTP.

Shapes follow ../shared/docs/exchanges-ccxt.md: numbers as strings, Binance's 12-element klines and
`{"code","msg"}` errors with `X-MBX-USED-WEIGHT-1M` on every answer and a 6000-weight minute,
Kraken's `{"error":[],"result":...}` envelope with errors inside HTTP 200, its 720-candle horizon,
the uncommitted last row and `last`. Faults are injected like the CoinCap sandbox's: rules with a
`kind`, an optional `exchange`, a `path` regex on path and query, and `times` (null: forever).
Admin routes (`/__admin/...`) are free and not counted.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import threading
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from criptopipe.sources.coincap.sandbox.universe import Universe
from criptopipe.sources.exchanges.sandbox.catalogue import BINANCE, EXCHANGES, KRAKEN, Pair
from criptopipe.sources.exchanges.sandbox.market import Bar, ExchangeMarket, fmt

DAY_MS = 86_400_000
KRAKEN_HORIZON = 720
BINANCE_MAX_LIMIT, BINANCE_DEFAULT_LIMIT = 1000, 500
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
    }
)
HTML_502 = b"<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>"


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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # see the CoinCap sandbox: avoids ~40 ms keep-alive stalls
    server: ExchangeHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    # ------------------------------------------------------------------ plumbing

    def _send(self, status: int, body: bytes, headers: dict[str, str], ctype: str) -> None:
        payload = body
        gz = "gzip" in (self.headers.get("Accept-Encoding") or "") and len(body) > 256
        if gz:
            payload = gzip.compress(body, compresslevel=5)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        if gz:
            self.send_header("Content-Encoding", "gzip")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj, separators=(",", ":")).encode()
        self._send(status, body, headers or {}, "application/json;charset=UTF-8")

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else {}

    # ------------------------------------------------------------------ admin

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if not path.startswith("/__admin/"):
            self._json(404, {"error": "Not Found"})
            return
        state = self.server.state
        try:
            body = self._read_body()
            if path == "/__admin/reset":
                state.reset()
                self._json(200, {"ok": True})
            elif path == "/__admin/faults":
                self._json(200, state.set_faults(body))
            elif path == "/__admin/skew":
                self._json(200, state.set_skew(body))
            else:
                self._json(404, {"error": f"no admin route {path}"})
        except (ValueError, TypeError) as exc:
            self._json(400, {"error": str(exc)})

    def _admin_get(self, path: str) -> None:
        state = self.server.state
        if path == "/__admin/health":
            self._json(200, {"ok": True, "exchanges": list(EXCHANGES)})
        elif path == "/__admin/stats":
            self._json(200, state.stats())
        elif path == "/__admin/faults":
            self._json(200, state.faults)
        elif path == "/__admin/skew":
            self._json(200, state.skew)
        else:
            self._json(404, {"error": f"no admin route {path}"})

    # ------------------------------------------------------------------ API

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path.startswith("/__admin/"):
            self._admin_get(parts.path)
            return
        m = re.fullmatch(r"/(binance|kraken)(/.*)", parts.path)
        if m is None:
            self._json(404, {"error": "Not Found: use /binance/... or /kraken/..."})
            return
        exchange, sub = m[1], m[2]
        started = time.monotonic()
        state = self.server.state
        epoch = state.epoch
        logged = self.path
        route = sub.rsplit("/", 1)[-1]
        latency = state.faults.get("latency_ms") or 0
        if latency:
            time.sleep(latency / 1000)
        rules = state.take_rules(exchange, logged)
        for rule in rules:
            if rule["kind"] == "hang":
                time.sleep(float(rule.get("seconds", 30)))
        headers: dict[str, str] = {}
        weight = 0
        if exchange == BINANCE:
            weight = BINANCE_WEIGHTS.get(route, 1)
            used, wait = state.spend_weight(weight)
            headers = {"X-MBX-USED-WEIGHT": str(used), "X-MBX-USED-WEIGHT-1M": str(used)}
        else:
            wait = None
        try:
            for rule in rules:
                _fault(exchange, rule)
            if wait is not None:
                limit = state.faults.get("binance_weight_limit")
                raise Reply(
                    429,
                    {
                        "code": -1003,
                        "msg": f"Too much request weight used; current limit is {limit} request "
                        "weight per 1 MINUTE. Please use WebSocket Streams for live updates to "
                        "avoid polling the API.",
                    },
                    {"Retry-After": str(max(1, int(wait + 0.999)))},
                )
            q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            if exchange == BINANCE:
                status, obj = 200, self._binance(sub, q)
            else:
                result = self._kraken(sub, q)
                if any(r["kind"] == "altname_key" for r in rules) and sub == "/0/public/OHLC":
                    # keyed by the altname instead of the pair key: CCXT then finds nothing
                    pair = self.server.market.catalogue().pair(KRAKEN, q["pair"])
                    if pair is not None:
                        result = {pair.altname: result.pop(pair.id), **result}
                status, obj = 200, {"error": [], "result": result}
        except Reply as reply:
            status, obj = reply.status, reply.body
            headers.update(reply.headers)
        if isinstance(obj, bytes):
            state.record(exchange, route, logged, status, weight, started, epoch)
            self._send(status, obj, headers, "text/html")
            return
        body = json.dumps(obj, separators=(",", ":")).encode()
        kinds = {r["kind"] for r in rules}
        if status == 200 and "malformed" in kinds:
            body = body[: max(1, len(body) // 2)]
        if status == 200 and "truncate" in kinds:
            state.record(exchange, route, logged, status, weight, started, epoch)
            self.send_response(200)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        state.record(exchange, route, logged, status, weight, started, epoch)
        self._send(status, body, headers, "application/json;charset=UTF-8")

    # ------------------------------------------------------------------ Binance

    def _binance(self, sub: str, q: dict[str, str]) -> Any:
        market = self.server.market
        now = datetime.now(timezone.utc)
        if sub == "/api/v3/time":
            return {"serverTime": int(now.timestamp() * 1000)}
        if sub == "/api/v3/exchangeInfo":
            pairs = market.catalogue(now.date()).pairs[BINANCE]
            wanted = _symbols_param(q)
            if wanted is not None:
                pairs = [p for p in pairs if p.id in wanted]
                if len(pairs) != len(wanted):
                    raise Reply(400, {"code": -1121, "msg": "Invalid symbol."})
            return {
                "timezone": "UTC",
                "serverTime": int(now.timestamp() * 1000),
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": BINANCE_WEIGHT_LIMIT,
                    },
                    {
                        "rateLimitType": "RAW_REQUESTS",
                        "interval": "MINUTE",
                        "intervalNum": 5,
                        "limit": 61000,
                    },
                ],
                "exchangeFilters": [],
                "symbols": [self._binance_symbol(p, now.date()) for p in pairs],
            }
        if sub == "/api/v3/klines":
            return self._klines(q, now)
        raise Reply(404, HTML_502.replace(b"502 Bad Gateway", b"404 Not Found"))

    def _binance_symbol(self, pair: Pair, today: date) -> dict[str, Any]:
        dec = self.server.market.decimals(pair)
        trading = pair.delisted is None or pair.delisted > today
        return {
            "symbol": pair.id,
            "status": "TRADING" if trading and pair.listed <= today else "BREAK",
            "baseAsset": pair.base,
            "baseAssetPrecision": 8,
            "quoteAsset": pair.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": [
                "LIMIT",
                "LIMIT_MAKER",
                "MARKET",
                "STOP_LOSS_LIMIT",
                "TAKE_PROFIT_LIMIT",
            ],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": pair.quote == "USDT",
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": fmt(10.0**-dec, dec, 8),
                    "maxPrice": "1000000.00000000",
                    "tickSize": fmt(10.0**-dec, dec, 8),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": "0.00001000",
                    "maxQty": "9000.00000000",
                    "stepSize": "0.00001000",
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": "5.00000000",
                    "applyMinToMarket": True,
                    "maxNotional": "9000000.00000000",
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
            ],
            "permissions": [],
            "permissionSets": [["SPOT", "MARGIN"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }

    def _klines(self, q: dict[str, str], now: datetime) -> list[list[Any]]:
        market = self.server.market
        if not q.get("symbol"):
            raise Reply(
                400,
                {
                    "code": -1102,
                    "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or "
                    "malformed.",
                },
            )
        if q.get("interval") != "1d":
            # the imitation serves daily candles only
            raise Reply(400, {"code": -1120, "msg": "Invalid interval."})
        pair = market.catalogue(now.date()).pair(BINANCE, q["symbol"])
        if pair is None:
            raise Reply(400, {"code": -1121, "msg": "Invalid symbol."})
        try:
            limit = int(q.get("limit", BINANCE_DEFAULT_LIMIT))
            start = int(q["startTime"]) if "startTime" in q else None
            end = int(q["endTime"]) if "endTime" in q else None
        except ValueError:
            raise Reply(
                400, {"code": -1100, "msg": "Illegal characters found in a parameter."}
            ) from None
        if not 1 <= limit <= BINANCE_MAX_LIMIT:
            raise Reply(
                400, {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."}
            )
        now_ms = int(now.timestamp() * 1000)
        first = _ms_day(-(-start // DAY_MS) * DAY_MS) if start is not None else pair.listed
        last_ms = min(end if end is not None else now_ms, now_ms)
        stop = _ms_day(last_ms) + timedelta(days=1)  # days opening at or before last_ms
        bars = market.bars(pair, first, stop, now, self.server.state.skew.get(BINANCE, 0.0))
        bars = bars[:limit] if start is not None else bars[-limit:]
        dec = market.decimals(pair)
        return [_binance_row(b, dec) for b in bars]

    # ------------------------------------------------------------------ Kraken

    def _kraken(self, sub: str, q: dict[str, str]) -> Any:
        market = self.server.market
        now = datetime.now(timezone.utc)
        cat = market.catalogue(now.date())
        if sub == "/0/public/Time":
            return {
                "unixtime": int(now.timestamp()),
                "rfc1123": now.strftime("%a, %d %b %y %H:%M:%S +0000"),
            }
        if sub == "/0/public/Assets":
            wanted = set(q["asset"].split(",")) if q.get("asset") else None
            out = {}
            for a in cat.kraken_assets.values():
                if wanted is None or a.key in wanted or a.altname in wanted:
                    out[a.key] = {
                        "aclass": "currency",
                        "altname": a.altname,
                        "decimals": a.decimals,
                        "display_decimals": a.display_decimals,
                        "collateral_value": 1 if a.key in {"XXBT", "ZUSD"} else 0.9,
                        "status": "enabled",
                    }
            if wanted and not out:
                raise Reply(200, {"error": ["EQuery:Unknown asset"]})
            return out
        if sub == "/0/public/AssetPairs":
            wanted = set(q["pair"].split(",")) if q.get("pair") else None
            out = {}
            for p in cat.pairs[KRAKEN]:
                if p.listed > now.date():
                    continue
                if wanted is None or p.id in wanted or p.altname in wanted:
                    out[p.id] = self._kraken_pair(p)
            if wanted and not out:
                raise Reply(200, {"error": ["EQuery:Unknown asset pair"]})
            return out
        if sub == "/0/public/OHLC":
            return self._ohlc(q, now)
        raise Reply(404, {"error": ["EGeneral:Unknown method"]})

    def _kraken_pair(self, p: Pair) -> dict[str, Any]:
        dec = self.server.market.decimals(p)
        fees = [[0, 0.4], [10000, 0.35], [50000, 0.24], [100000, 0.22], [250000, 0.2]]
        return {
            "altname": p.altname,
            "wsname": p.wsname,
            "aclass_base": "currency",
            "base": p.base,
            "aclass_quote": "currency",
            "quote": p.quote,
            "lot": "unit",
            "cost_decimals": 5,
            "pair_decimals": dec,
            "lot_decimals": 8,
            "lot_multiplier": 1,
            "leverage_buy": [2, 3] if p.base in {"XXBT", "XETH"} else [],
            "leverage_sell": [2, 3] if p.base in {"XXBT", "XETH"} else [],
            "fees": fees,
            "fees_maker": [[0, 0.25], [10000, 0.2], [50000, 0.14], [100000, 0.12]],
            "fee_volume_currency": "ZUSD",
            "margin_call": 80,
            "margin_stop": 40,
            "ordermin": "0.0001",
            "costmin": "0.5",
            "tick_size": fmt(10.0**-dec, dec),
            "status": "online",
        }

    def _ohlc(self, q: dict[str, str], now: datetime) -> dict[str, Any]:
        market = self.server.market
        if not q.get("pair"):
            raise Reply(200, {"error": ["EGeneral:Invalid arguments"]})
        if q.get("interval", "1") != "1440":
            # the imitation serves daily candles only
            raise Reply(200, {"error": ["EGeneral:Invalid arguments:interval"]})
        pair = market.catalogue(now.date()).pair(KRAKEN, q["pair"])
        if pair is None or pair.listed > now.date():
            raise Reply(200, {"error": ["EQuery:Unknown asset pair"]})
        try:
            since = int(q.get("since") or 0)
        except ValueError:
            raise Reply(200, {"error": ["EGeneral:Invalid arguments:since"]}) from None
        today = now.date()
        # only the 720 most recent entries exist, the uncommitted one (today) included
        horizon = today - timedelta(days=KRAKEN_HORIZON - 1)
        bars = market.bars(
            pair, horizon, today + timedelta(days=1), now, self.server.state.skew.get(KRAKEN, 0.0)
        )
        dec = market.decimals(pair)
        rows = [
            _kraken_row(b, dec) for b in bars if _day_s(b.day) > since or b.day == today
        ]  # `since` is exclusive; the uncommitted row is always there
        return {pair.id: rows, "last": _day_s(today - timedelta(days=1))}


def _fault(exchange: str, rule: dict[str, Any]) -> None:
    """Raise the answer a fault rule stands for (hang, truncate, malformed act elsewhere)."""
    kind = rule["kind"]
    binance = exchange == BINANCE
    retry = {"Retry-After": str(rule["retry_after"])} if rule.get("retry_after") else {}
    if kind == "status":
        status = int(rule.get("status", 500))
        if "body" in rule:
            raise Reply(status, rule["body"], retry)
        if status >= 500:
            raise Reply(status, HTML_502.replace(b"502 Bad Gateway", str(status).encode()), retry)
        if binance:
            raise Reply(
                status,
                {"code": -1000, "msg": "An unknown error occurred while processing the request."},
                retry,
            )
        raise Reply(status, b"", retry)
    if kind == "throttle":
        if binance:
            raise Reply(
                429,
                {
                    "code": -1003,
                    "msg": "Too much request weight used; current limit is 6000 request weight "
                    "per 1 MINUTE. Please use WebSocket Streams for live updates to avoid "
                    "polling the API.",
                },
                {"Retry-After": str(rule.get("retry_after", 1))},
            )
        raise Reply(200, {"error": ["EGeneral:Too many requests"]})
    if kind == "ban":
        seconds = int(rule.get("retry_after", 120))
        if binance:
            until = int((time.time() + seconds) * 1000)
            raise Reply(
                418,
                {
                    "code": -1003,
                    "msg": f"Way too much request weight used; IP banned until {until}. Please "
                    "use WebSocket Streams for live updates to avoid bans.",
                },
                {"Retry-After": str(seconds)},
            )
        raise Reply(200, {"error": ["EGeneral:Temporary lockout"]})
    if kind == "unknown_symbol":
        if binance:
            raise Reply(400, {"code": -1121, "msg": "Invalid symbol."})
        raise Reply(200, {"error": ["EQuery:Unknown asset pair"]})
    if kind == "error":
        message = rule.get("message", "EService:Unavailable")
        if binance:
            raise Reply(
                int(rule.get("status", 400)), {"code": int(rule.get("code", -1000)), "msg": message}
            )
        raise Reply(200, {"error": [message]})


def _symbols_param(q: dict[str, str]) -> set[str] | None:
    if q.get("symbol"):
        return {q["symbol"]}
    if q.get("symbols"):
        try:
            return set(json.loads(q["symbols"]))
        except ValueError:
            raise Reply(
                400, {"code": -1100, "msg": "Illegal characters found in parameter 'symbols'."}
            ) from None
    return None


def _ms_day(ms: int) -> date:
    return date(1970, 1, 1) + timedelta(days=ms // DAY_MS)


def _day_ms(day: date) -> int:
    return (day - date(1970, 1, 1)).days * DAY_MS


def _day_s(day: date) -> int:
    return _day_ms(day) // 1000


def _binance_row(b: Bar, dec: int) -> list[Any]:
    volume = fmt(b.base_volume, 8)
    vwap = Decimal(fmt(b.vwap, min(dec + 2, 12)))
    quote = (Decimal(volume) * vwap).quantize(Decimal("0.00000001"))
    taker = Decimal(fmt(b.base_volume * 0.48, 8))
    taker_quote = (taker * vwap).quantize(Decimal("0.00000001"))
    opened = _day_ms(b.day)
    return [
        opened,
        fmt(b.open, dec, 8),
        fmt(b.high, dec, 8),
        fmt(b.low, dec, 8),
        fmt(b.close, dec, 8),
        volume,
        opened + DAY_MS - 1,
        format(quote, "f"),
        b.trades,
        format(taker, "f"),
        format(taker_quote, "f"),
        "0",
    ]


def _kraken_row(b: Bar, dec: int) -> list[Any]:
    return [
        _day_s(b.day),
        fmt(b.open, dec),
        fmt(b.high, dec),
        fmt(b.low, dec),
        fmt(b.close, dec),
        fmt(b.vwap, dec),
        fmt(b.base_volume, 8),
        b.trades,
    ]


class ExchangeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr: tuple[str, int], market: ExchangeMarket, state: State) -> None:
        super().__init__(addr, Handler)
        self.market, self.state = market, state
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._conns_lock:
            (self._conns.add if alive else self._conns.discard)(conn)

    def close_connections(self) -> None:
        """Cut idle keep-alive connections so that a stopped sandbox answers nothing more."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (and faults that hang up on them) are normal here: stay quiet."""
        return None


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
