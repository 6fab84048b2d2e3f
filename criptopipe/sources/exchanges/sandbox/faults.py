"""What each fault rule answers, in each exchange's own way (../README.md lists the kinds).

Binance answers errors with 4xx and a `{"code","msg"}` body (429/418 with `Retry-After`);
Kraken answers them inside HTTP 200 with an `error` array. `hang`, `truncate`, `malformed` and
`altname_key` act on the answer itself, in the handler.
"""

from __future__ import annotations

import time
from typing import Any

from criptopipe.sources.exchanges.sandbox.catalogue import BINANCE
from criptopipe.sources.exchanges.sandbox.state import Reply

HTML_502 = b"<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>"


def raise_fault(exchange: str, rule: dict[str, Any]) -> None:
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
