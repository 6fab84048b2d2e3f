"""The assets, one module per source: the only layer that knows both Dagster and the data flow
below it."""

from criptopipe.defs.assets.coincap import asset_history, market_snapshots, raw_assets

coincap_assets = [raw_assets, asset_history, market_snapshots]

__all__ = ["asset_history", "coincap_assets", "market_snapshots", "raw_assets"]
