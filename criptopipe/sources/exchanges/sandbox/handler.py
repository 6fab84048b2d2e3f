"""The exchange sandbox's HTTP handler: admin routes, faults, Binance's weight minute, and the
routing of `/binance/...` and `/kraken/...` to their imitations (`binance.py`, `kraken.py`).

Every API answer is counted and logged (admin routes are free); faults fire before routing
(`faults.py`) or act on the answer itself (hang, truncate, malformed, altname_key, empty).
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from criptopipe.sources.exchanges.sandbox import binance, kraken
from criptopipe.sources.exchanges.sandbox.catalogue import BINANCE, EXCHANGES, KRAKEN
from criptopipe.sources.exchanges.sandbox.faults import raise_fault
from criptopipe.sources.exchanges.sandbox.market import ExchangeMarket
from criptopipe.sources.exchanges.sandbox.state import Reply, State


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
        kinds = {r["kind"] for r in rules}
        for rule in rules:
            if rule["kind"] == "hang":
                time.sleep(float(rule.get("seconds", 30)))
        headers: dict[str, str] = {}
        weight = 0
        if exchange == BINANCE:
            weight = binance.BINANCE_WEIGHTS.get(route, 1)
            used, wait = state.spend_weight(weight)
            headers = {"X-MBX-USED-WEIGHT": str(used), "X-MBX-USED-WEIGHT-1M": str(used)}
        else:
            wait = None
        try:
            for rule in rules:
                raise_fault(exchange, rule)
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
            market, now = self.server.market, datetime.now(timezone.utc)
            skew = state.skew.get(exchange, 0.0)
            if exchange == BINANCE:
                status, obj = 200, binance.answer(market, sub, q, now, skew)
                if "empty" in kinds and sub == "/api/v3/klines":
                    obj = []  # a valid answer with no candle at all
            else:
                result = kraken.answer(market, sub, q, now, skew)
                if "empty" in kinds and sub == "/0/public/OHLC":
                    # nothing but the uncommitted row Kraken always sends
                    result = {k: v[-1:] if isinstance(v, list) else v for k, v in result.items()}
                if "altname_key" in kinds and sub == "/0/public/OHLC":
                    # keyed by the altname instead of the pair key: CCXT then finds nothing
                    pair = market.catalogue(now.date()).pair(KRAKEN, q["pair"])
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
