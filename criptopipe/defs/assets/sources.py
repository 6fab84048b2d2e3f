"""Where the data comes from: CoinCap v3, declared as external assets, one per route family,
and the exchanges' OHLCV endpoints (through CCXT), one more.

Dagster never materializes these; they put the API on the asset graph upstream of what reads
it, so lineage starts at the source. Which asset reads which route (`criptopipe.pipeline.ingest`):

- `coincap_assets` (`GET /assets`): `raw_assets` lists it; `asset_history` and
  `market_snapshots` read it to resolve the top-N universe when no coin ids are configured.
- `coincap_history` (`GET /assets/{id}/history`): `asset_history`.
- `coincap_markets` (`GET /assets/{id}/markets`): `market_snapshots`.

No CoinCap asset reads another's data (each resolves its coins from CoinCap, never from
`raw_assets`, so a history backfill needs no snapshot of its days), hence no edges between
them; `exchange_candles` reads `raw_assets` (symbols) and `daily_prices` both sources' datasets.
"""

from __future__ import annotations

import dagster as dg

from criptopipe.config_messages import DEFAULT_BASE_URL
from criptopipe.defs.catalog import OWNERS

GROUP = "coincap"


def _route(name: str, path: str, what: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=dg.AssetKey(f"coincap_{name}"),
        description=f"CoinCap v3 `GET {path}`: {what} Served live by CoinCap (or the local "
        "sandbox), metered in credits; criptopipe never writes it.",
        group_name=GROUP,
        kinds={"coincap"},
        owners=OWNERS,
        tags={"source": "coincap"},
        metadata={"route": path, "docs": dg.MetadataValue.url("https://pro.coincap.io/api-docs")},
    )


ASSETS_ROUTE = _route(
    "assets", "/assets", f"the asset list (price, supply, market cap) at {DEFAULT_BASE_URL}."
)
HISTORY_ROUTE = _route(
    "history", "/assets/{id}/history", "a coin's price history (d1: the 24-hour average)."
)
MARKETS_ROUTE = _route(
    "markets", "/assets/{id}/markets", "a coin's exchange markets, by 24-hour volume."
)

coincap_sources = [ASSETS_ROUTE, HISTORY_ROUTE, MARKETS_ROUTE]

#: the exchanges' public OHLCV endpoints, through CCXT (Binance `klines`, Kraken `OHLC`)
EXCHANGE_OHLCV = dg.AssetSpec(
    key=dg.AssetKey("exchanges_ohlcv"),
    description="The configured exchanges' daily candles (CRIPTOPIPE_EXCHANGES: Binance "
    "`GET /api/v3/klines`, Kraken `GET /0/public/OHLC`), fetched through CCXT's unified "
    "`fetch_ohlcv`, served live by each exchange (or the local exchange sandbox); public, no "
    "credits. criptopipe never writes it.",
    group_name="exchanges",
    kinds={"ccxt"},
    owners=OWNERS,
    tags={"source": "exchanges"},
    metadata={"docs": dg.MetadataValue.url("https://docs.ccxt.com/#/?id=ohlcv-structure")},
)

exchange_sources = [EXCHANGE_OHLCV]
