"""A CoinCap v3-compatible HTTP server over the synthetic universe, with a credit counter and
fault injection. Tests, benchmarks and `make run` without a key all talk to it over real TCP.

Billing: every answered API request is a call and costs `credits_for(len(body))` with the body
measured before gzip -- errors included, since CoinCap documents no exception; admin routes
(`/__admin/...`) are free and not logged. Dropped connections (the `disconnect` and `truncate`
faults) are logged and counted as calls too: the server did the work.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import threading
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from criptopipe.sources.coincap.credits import credits_for
from criptopipe.sources.coincap.sandbox.universe import Universe, dec18, ms_day
from criptopipe.sources.coincap.sandbox.universe import _u as _unit

INTERVALS = ("m1", "m5", "m15", "m30", "h1", "h2", "h6", "h12", "d1")
INTERVAL_MS = {
    "m1": 60_000,
    "m5": 300_000,
    "m15": 900_000,
    "m30": 1_800_000,
    "h1": 3_600_000,
    "h2": 7_200_000,
    "h6": 21_600_000,
    "h12": 43_200_000,
    "d1": 86_400_000,
}
DEFAULT_LIMIT, MAX_LIMIT = 100, 2000
UNAUTHORIZED = "You did not provide a valid API key."


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class State:
    """Counters, request log and faults, shared by all handler threads."""

    def __init__(self, latency_ms: int = 0, rate_limit_per_minute: int | None = None) -> None:
        self.lock = threading.Lock()
        self.calls = self.bytes = self.credits = 0
        self.requests: list[dict[str, Any]] = []
        self.faults: dict[str, Any] = {
            "latency_ms": latency_ms,
            "rate_limit_per_minute": rate_limit_per_minute,
            "rules": [],
        }
        self.window: deque[float] = deque()

    def set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        rules = []
        for rule in body.get("rules", []) or []:
            if rule.get("kind") not in {
                "status",
                "hang",
                "truncate",
                "malformed",
                "drop_field",
                "extra_field",
                "disconnect",
                "empty",
            }:
                raise ValueError(f"unknown fault kind {rule.get('kind')!r}")
            rules.append(dict(rule))
        with self.lock:
            self.faults = {
                "latency_ms": int(body.get("latency_ms") or 0),
                "rate_limit_per_minute": body.get("rate_limit_per_minute"),
                "rules": rules,
            }
            self.window.clear()
            return json.loads(json.dumps(self.faults))

    def take_rules(self, path: str) -> list[dict[str, Any]]:
        """The rules that fire for this request (consuming one of their `times`)."""
        fired = []
        with self.lock:
            for rule in self.faults["rules"]:
                times = rule.get("times", 1)
                if times is not None and times <= 0:
                    continue
                if rule.get("path") and not re.search(rule["path"], path):
                    continue
                if times is not None:
                    rule["times"] = times - 1
                fired.append(dict(rule))
        return fired

    def rate_limited(self) -> float | None:
        """Seconds until a slot frees when v3's per-minute limit is exceeded, else None."""
        limit = self.faults.get("rate_limit_per_minute")
        if not limit:
            return None
        now = time.monotonic()
        with self.lock:
            while self.window and now - self.window[0] >= 60.0:
                self.window.popleft()
            if len(self.window) >= int(limit):
                return 60.0 - (now - self.window[0])
            self.window.append(now)
            return None

    def record(self, method: str, path: str, status: int, size: int, started: float) -> None:
        cost = credits_for(size)
        with self.lock:
            self.calls += 1
            self.bytes += size
            self.credits += cost
            self.requests.append(
                {
                    "method": method,
                    "path": path,
                    "status": status,
                    "bytes": size,
                    "credits": cost,
                    "ms": round((time.monotonic() - started) * 1000, 1),
                }
            )

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "calls": self.calls,
                "bytes": self.bytes,
                "credits": self.credits,
                "requests": list(self.requests),
            }

    def reset(self) -> None:
        with self.lock:
            self.calls = self.bytes = self.credits = 0
            self.requests = []
            self.window.clear()


def _redact(path: str) -> str:
    return re.sub(r"(apiKey=)[^&]*", r"\1***", path)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: without TCP_NODELAY, Nagle plus the client's
    # delayed ACK stall every keep-alive response by ~40 ms
    disable_nagle_algorithm = True
    server: SandboxHTTPServer

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

    def _send(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json; charset=utf-8",
    ) -> None:
        payload = body
        gz = "gzip" in (self.headers.get("Accept-Encoding") or "") and len(body) > 256
        if gz:
            payload = gzip.compress(body, compresslevel=5)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if gz:
            self.send_header("Content-Encoding", "gzip")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> bytes:
        body = json.dumps(obj, separators=(",", ":")).encode()
        self._send(status, body, headers)
        return body

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else {}

    # ------------------------------------------------------------------ admin

    def _admin(self, method: str, path: str) -> None:
        state = self.server.state
        if path == "/__admin/health":
            self._json(200, {"ok": True, "coins": len(self.server.universe.coins)})
        elif path == "/__admin/stats" and method == "GET":
            self._json(200, state.stats())
        elif path == "/__admin/reset" and method == "POST":
            self._read_body()
            state.reset()
            self._json(200, {"ok": True})
        elif path == "/__admin/faults":
            if method == "POST":
                try:
                    self._json(200, state.set_faults(self._read_body()))
                except ValueError as exc:
                    self._json(400, {"error": str(exc)})
            else:
                self._json(200, state.faults)
        else:
            self._json(404, {"error": f"no admin route {path}"})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/__admin/"):
            self._admin("POST", path)
        else:
            self._json(404, {"error": "Not Found"})

    # ------------------------------------------------------------------ API

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path.startswith("/__admin/"):
            self._admin("GET", parts.path)
            return
        started = time.monotonic()
        logged = _redact(self.path)
        state = self.server.state
        latency = state.faults.get("latency_ms") or 0
        if latency:
            time.sleep(latency / 1000)
        rules = state.take_rules(logged)
        for rule in rules:
            if rule["kind"] == "hang":
                time.sleep(float(rule.get("seconds", 30)))
        for rule in rules:
            if rule["kind"] == "disconnect":
                state.record("GET", logged, 0, 0, started)
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if rule["kind"] == "status":
                status = int(rule.get("status", 500))
                headers = (
                    {"Retry-After": str(rule["retry_after"])} if rule.get("retry_after") else {}
                )
                body = self._json(
                    status, {"error": f"injected {status}", "timestamp": _now_ms()}, headers
                )
                state.record("GET", logged, status, len(body), started)
                return
        wait = state.rate_limited()
        if wait is not None:
            retry = {"Retry-After": str(max(1, int(wait + 0.999)))}
            limit = state.faults.get("rate_limit_per_minute")
            body = self._json(
                429, {"error": f"Too many requests, slow down. Limit: {limit}/minute"}, retry
            )
            state.record("GET", logged, 429, len(body), started)
            return
        try:
            self._authorize(parts.query)
            data = self._route(parts.path, parse_qs(parts.query))
            status, obj = 200, {"data": data, "timestamp": _now_ms()}
        except ApiError as exc:
            status, obj = exc.status, {"error": exc.message, "timestamp": _now_ms()}
        kinds = {r["kind"] for r in rules}
        if status == 200 and "empty" in kinds:
            # a valid but empty answer (CoinCap has been seen answering `[]` for a coin's
            # history): a list route answers no rows, an object route `null`
            obj["data"] = [] if isinstance(obj["data"], list) else None
        if status == 200:
            obj = _mutate(obj, rules)
        body = json.dumps(obj, separators=(",", ":")).encode()
        if status == 200 and "malformed" in kinds:
            body = body[: max(1, len(body) // 2)] + b"}}garbage"
        if status == 200 and "truncate" in kinds:
            state.record("GET", logged, status, len(body), started)
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        state.record("GET", logged, status, len(body), started)
        self._send(status, body)

    def _authorize(self, query: str) -> None:
        key = self.server.key
        if key is None:
            return
        header = self.headers.get("Authorization") or ""
        given = parse_qs(query).get("apiKey", [""])[0]
        if header == f"Bearer {key}" or given == key:
            return
        raise ApiError(401, UNAUTHORIZED)

    def _route(self, path: str, q: dict[str, list[str]]) -> Any:
        uni = self.server.universe
        m = re.fullmatch(r"/v3/assets/?", path)
        if m:
            limit, offset = _paging(q)
            records = uni.asset_records()
            if "ids" in q:
                wanted = [i for i in q["ids"][0].split(",") if i]
                records = [r for r in records if r["id"] in wanted]
            if "search" in q:
                s = q["search"][0].lower()
                records = [
                    r
                    for r in records
                    if s in r["id"] or s in r["symbol"].lower() or s in r["name"].lower()
                ]
            return records[offset : offset + limit]
        m = re.fullmatch(r"/v3/assets/([^/]+)", path)
        if m:
            return next((r for r in uni.asset_records() if r["id"] == m[1]), None) or _missing(m[1])
        m = re.fullmatch(r"/v3/assets/([^/]+)/history", path)
        if m:
            if m[1] not in uni.by_id:
                _missing(m[1])
            return _history(uni, m[1], q)
        m = re.fullmatch(r"/v3/assets/([^/]+)/markets", path)
        if m:
            if m[1] not in uni.by_id:
                _missing(m[1])
            limit, offset = _paging(q)
            return uni.market_records(m[1])[offset : offset + limit]
        if re.fullmatch(r"/v3/rates/?", path):
            return uni.rate_records()
        m = re.fullmatch(r"/v3/rates/([^/]+)", path)
        if m:
            return next((r for r in uni.rate_records() if r["id"] == m[1]), None) or _missing(m[1])
        if re.fullmatch(r"/v3/exchanges/?", path):
            limit, offset = _paging(q)
            return uni.exchange_records()[offset : offset + limit]
        m = re.fullmatch(r"/v3/exchanges/([^/]+)", path)
        if m:
            found = (r for r in uni.exchange_records() if r["exchangeId"] == m[1])
            return next(found, None) or _missing(m[1])
        raise ApiError(404, "Not Found")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _missing(slug: str) -> Any:
    raise ApiError(404, f"{slug} not found")


def _int(q: dict[str, list[str]], name: str) -> int | None:
    if name not in q:
        return None
    try:
        return int(q[name][0])
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None


def _paging(q: dict[str, list[str]]) -> tuple[int, int]:
    limit = _int(q, "limit")
    offset = _int(q, "offset") or 0
    if limit is None:
        limit = DEFAULT_LIMIT
    if limit > MAX_LIMIT:
        raise ApiError(400, f"limit exceeds {MAX_LIMIT}")
    if limit < 1:
        raise ApiError(400, "limit must be a positive integer")
    if offset < 0:
        raise ApiError(400, "offset must be a non-negative integer")
    return limit, offset


def _history(uni: Universe, slug: str, q: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Points with start <= time < end (the sandbox's documented choice: half-open)."""
    if "interval" not in q:
        raise ApiError(400, "missing interval")
    interval = q["interval"][0]
    if interval not in INTERVALS:
        raise ApiError(400, "use valid interval: " + ", ".join(INTERVALS))
    start, end = _int(q, "start"), _int(q, "end")
    if start is not None and end is None:
        raise ApiError(400, "query requires end")
    if end is not None and start is None:
        raise ApiError(400, "query requires start")
    now = datetime.now(timezone.utc)
    if start is None or end is None:
        end = int(now.timestamp() * 1000)
        start = end - (365 * 86_400_000 if interval == "d1" else 86_400_000)
    if end < start:
        raise ApiError(400, "start must be before end")
    if interval == "d1":
        first = ms_day(start + 86_400_000 - 1)  # the first midnight at or after start
        stop = ms_day(end + 86_400_000 - 1)  # midnights strictly before end
        return uni.history_points(slug, first, stop)
    # minute/hour intervals: the day's price with a deterministic wiggle per instant
    step = INTERVAL_MS[interval]
    t = -(-start // step) * step
    now_ms = int(now.timestamp() * 1000)
    out: list[dict[str, Any]] = []
    while t < min(end, now_ms) and len(out) < 20_000:
        day = ms_day(t)
        price = uni.price_on(slug, day) or uni.price_on(slug, day - timedelta(days=1))
        if price is not None:
            price *= 1 + (_unit(uni.seed, slug, t) - 0.5) * 0.01
            out.append(
                {
                    "priceUsd": dec18(price),
                    "time": t,
                    "date": datetime.fromtimestamp(t / 1000, tz=timezone.utc).strftime(
                        "%Y-%m-%dT%H:%M:%S.000Z"
                    ),
                }
            )
        t += step
    return out


def _mutate(obj: dict[str, Any], rules: list[dict[str, Any]]) -> dict[str, Any]:
    edits = [r for r in rules if r["kind"] in {"drop_field", "extra_field"}]
    if not edits:
        return obj
    data = obj["data"]
    records = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
    for rec in records:
        for r in edits:
            if r["kind"] == "drop_field":
                rec.pop(r["field"], None)
            else:
                rec[r["field"]] = r.get("value")
    return obj


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(
        self, addr: tuple[str, int], universe: Universe, key: str | None, state: State
    ) -> None:
        super().__init__(addr, Handler)
        self.universe, self.key, self.state = universe, key, state
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


class SandboxServer:
    """The sandbox in a background thread: `with SandboxServer(port=0, key="test") as sb:`."""

    def __init__(
        self,
        port: int = 0,
        key: str | None = "test",
        coins: int = 300,
        seed: int = 0,
        latency_ms: int = 0,
        rate_limit_per_minute: int | None = None,
        host: str = "127.0.0.1",
        faults: dict[str, Any] | None = None,
    ) -> None:
        self.host, self.requested_port, self.key = host, port, key
        self.universe = Universe(coins=coins, seed=seed)
        self.state = State(latency_ms, rate_limit_per_minute)
        if faults:
            self.state.set_faults(
                {"latency_ms": latency_ms, "rate_limit_per_minute": rate_limit_per_minute, **faults}
            )
        self._httpd: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the sandbox is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v3"

    def start(self) -> SandboxServer:
        self._httpd = SandboxHTTPServer(
            (self.host, self.requested_port), self.universe, self.key, self.state
        )
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="coincap-sandbox",
            daemon=True,
        )
        self._thread.start()
        # today's asset list costs ~0.5 ms per coin once a day: build it before the first call
        threading.Thread(
            target=self.universe.asset_records, name="sandbox-warm", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.close_connections()
            self._httpd = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def reset(self) -> None:
        self.state.reset()

    def set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.state.set_faults(body)


def http_date(seconds_from_now: float) -> str:
    """An HTTP date `seconds_from_now` in the future (for Retry-After faults)."""
    return format_datetime(
        datetime.now(timezone.utc) + timedelta(seconds=seconds_from_now), usegmt=True
    )
