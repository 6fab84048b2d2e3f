"""The assets, one module per source: the only layer that knows both Dagster and the data flow
below it."""

from criptopipe.defs.assets.coincap import asset_history, market_snapshots, raw_assets
from criptopipe.defs.assets.derived import daily_prices
from criptopipe.defs.assets.exchanges import exchange_candles

coincap_assets = [raw_assets, asset_history, market_snapshots]
exchange_assets = [exchange_candles]
derived_assets = [daily_prices]
all_assets = [*coincap_assets, *exchange_assets, *derived_assets]

__all__ = [
    "all_assets",
    "asset_history",
    "coincap_assets",
    "daily_prices",
    "derived_assets",
    "exchange_assets",
    "exchange_candles",
    "market_snapshots",
    "raw_assets",
]
