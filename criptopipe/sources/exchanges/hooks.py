"""What criptopipe hooks into CCXT's exchange classes, and how a stand-in's URLs are set.

Three hooks on a subclass of CCXT's exchange class see what CCXT alone would hide: `fetch` counts
each request as it leaves (and refuses a body that is not JSON, which CCXT's parsers would turn
into an empty result), `on_rest_response` records the status and headers the attempt got
(Retry-After, Binance's used weight), and `parse_ohlcv` keeps the raw row beside CCXT's parse
(Binance's quote volume and Kraken's VWAP are not in CCXT's unified candle). The HTTP path is
CCXT's own; nothing is mocked.
"""

from __future__ import annotations

from typing import Any

from criptopipe.sources.exchanges.meter import RequestMeter
from criptopipe.sources.exchanges.retry import CURRENT_CALL


class _Hooks:
    """Mixed in before CCXT's exchange class (see the module docstring)."""

    criptopipe_meter: RequestMeter | None = None

    async def fetch(self, url: str, method: str = "GET", headers: Any = None, body: Any = None):  # type: ignore[no-untyped-def]
        if self.criptopipe_meter is not None:
            self.criptopipe_meter.sent(url)
        record = CURRENT_CALL.get()
        if record is not None:
            record.urls.append(url)
            record.status, record.headers = None, {}
        result = await super().fetch(url, method, headers, body)  # type: ignore[misc]
        if isinstance(result, (str, bytes)):
            import ccxt  # imported where a request is made: CCXT takes seconds to import

            # CCXT hands back the text when the body is not JSON (cut short, garbled, empty, an
            # HTML page with status 200), and its parsers then turn that into an empty result
            raise ccxt.BadResponse(
                f"{getattr(self, 'id', '?')} GET {url}: the body is not valid JSON "
                f"({len(result)} characters: {result[:80]!r})"
            )
        return result

    def on_rest_response(  # type: ignore[no-untyped-def]
        self,
        code,
        reason,
        url,
        method,
        response_headers,
        response_body,
        request_headers,
        request_body,
    ):
        if self.criptopipe_meter is not None:
            body = response_body if isinstance(response_body, str | bytes) else ""
            size = len(body.encode()) if isinstance(body, str) else len(body)
            self.criptopipe_meter.answered(response_headers, size)
        record = CURRENT_CALL.get()
        if record is not None:
            record.status, record.headers = code, dict(response_headers)
        return super().on_rest_response(  # type: ignore[misc]
            code,
            reason,
            url,
            method,
            response_headers,
            response_body,
            request_headers,
            request_body,
        )

    def parse_ohlcv(self, ohlcv: Any, market: Any = None) -> list[Any]:
        return [*super().parse_ohlcv(ohlcv, market), ohlcv]  # type: ignore[misc]


_CLASSES: dict[str, type] = {}


def exchange_class(exchange_id: str) -> type:
    """CCXT's async exchange class for `exchange_id` with the hooks mixed in (built once)."""
    if exchange_id not in _CLASSES:
        import ccxt.async_support as ccxt_async  # CCXT takes seconds to import: here, not at load

        base = getattr(ccxt_async, exchange_id)
        _CLASSES[exchange_id] = type(f"Metered{base.__name__}", (_Hooks, base), {})
    return _CLASSES[exchange_id]


def point_all(urls: dict[str, Any], target: str) -> None:
    """Point every URL of CCXT's (nested) `urls['api']` at `target`."""
    for key, value in urls.items():
        if isinstance(value, dict):
            point_all(value, target)
        else:
            urls[key] = target
