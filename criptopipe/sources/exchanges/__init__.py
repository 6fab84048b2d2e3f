"""Cryptocurrency exchanges (Binance, Kraken) as a source, through CCXT; no Dagster here.

```python
from criptopipe.sources.exchanges import ExchangeSettings, TrackedCoin, open_exchanges

settings = ExchangeSettings(exchanges="binance,kraken", quote_preference=("USDT", "USD"))
async with open_exchanges(settings) as clients:              # markets loaded once, concurrently
    mapping = clients["binance"].map_coins([TrackedCoin(id="bitcoin", symbol="BTC")])
    fetched = await clients["binance"].fetch_many(
        [m.symbol for m in mapping.matches], date(2025, 1, 1), date(2026, 1, 1)
    )                                                          # CandleFetch: candles + gaps
    clients["binance"].meter.snapshot()                        # requests, Binance weight
```

The names below load lazily, so that `criptopipe.sources.exchanges.sandbox` (which needs none of
them) starts without importing CCXT.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from criptopipe.sources.exchanges.client import ExchangeClient, open_exchanges
    from criptopipe.sources.exchanges.errors import (
        ExchangeBannedError,
        ExchangeRequestError,
        ExchangeSourceError,
        MalformedCandleError,
        RetriesExhaustedError,
        SymbolUnavailableError,
        TransientExchangeError,
        UnknownExchangeError,
        UnknownSymbolError,
    )
    from criptopipe.sources.exchanges.meter import MeterSnapshot
    from criptopipe.sources.exchanges.models import (
        Candle,
        CandleFetch,
        DayGap,
        GapReason,
        ProblemKind,
        SymbolMap,
        SymbolMatch,
        SymbolProblem,
        TrackedCoin,
    )
    from criptopipe.sources.exchanges.settings import ExchangeSettings
    from criptopipe.sources.exchanges.symbols import map_symbols
    from criptopipe.sources.exchanges.venues import (
        VENUES,
        Venue,
        minimum_requests,
        minimum_weight,
    )

_LAZY = {
    "Candle": "criptopipe.sources.exchanges.models",
    "CandleFetch": "criptopipe.sources.exchanges.models",
    "DayGap": "criptopipe.sources.exchanges.models",
    "ExchangeBannedError": "criptopipe.sources.exchanges.errors",
    "ExchangeClient": "criptopipe.sources.exchanges.client",
    "ExchangeRequestError": "criptopipe.sources.exchanges.errors",
    "ExchangeSettings": "criptopipe.sources.exchanges.settings",
    "ExchangeSourceError": "criptopipe.sources.exchanges.errors",
    "GapReason": "criptopipe.sources.exchanges.models",
    "MalformedCandleError": "criptopipe.sources.exchanges.errors",
    "MeterSnapshot": "criptopipe.sources.exchanges.meter",
    "ProblemKind": "criptopipe.sources.exchanges.models",
    "RetriesExhaustedError": "criptopipe.sources.exchanges.errors",
    "SymbolMap": "criptopipe.sources.exchanges.models",
    "SymbolMatch": "criptopipe.sources.exchanges.models",
    "SymbolProblem": "criptopipe.sources.exchanges.models",
    "SymbolUnavailableError": "criptopipe.sources.exchanges.errors",
    "TrackedCoin": "criptopipe.sources.exchanges.models",
    "TransientExchangeError": "criptopipe.sources.exchanges.errors",
    "UnknownExchangeError": "criptopipe.sources.exchanges.errors",
    "UnknownSymbolError": "criptopipe.sources.exchanges.errors",
    "VENUES": "criptopipe.sources.exchanges.venues",
    "Venue": "criptopipe.sources.exchanges.venues",
    "map_symbols": "criptopipe.sources.exchanges.symbols",
    "minimum_requests": "criptopipe.sources.exchanges.venues",
    "minimum_weight": "criptopipe.sources.exchanges.venues",
    "open_exchanges": "criptopipe.sources.exchanges.client",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "VENUES",
    "Candle",
    "CandleFetch",
    "DayGap",
    "ExchangeBannedError",
    "ExchangeClient",
    "ExchangeRequestError",
    "ExchangeSettings",
    "ExchangeSourceError",
    "GapReason",
    "MalformedCandleError",
    "MeterSnapshot",
    "ProblemKind",
    "RetriesExhaustedError",
    "SymbolMap",
    "SymbolMatch",
    "SymbolProblem",
    "SymbolUnavailableError",
    "TrackedCoin",
    "TransientExchangeError",
    "UnknownExchangeError",
    "UnknownSymbolError",
    "Venue",
    "map_symbols",
    "minimum_requests",
    "minimum_weight",
    "open_exchanges",
]
