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
"""

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
from criptopipe.sources.exchanges.venues import VENUES, Venue, minimum_requests

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
    "open_exchanges",
]
