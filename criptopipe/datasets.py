"""The dataset registry: every dataset declares, in one entry, all that is particular to it.

An entry is the dataset's table (columns, natural key, the day and coin columns a slice cuts
by), how its rows are rebuilt from the raw archive, what a run of it costs, whether it is a
live-only snapshot, and the column the price checks read. The IO manager, the checks, the
output types, the planner and the CLI read the registry instead of dispatching on names, so
adding a dataset is one `register(Dataset(...))` plus one asset function.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from criptopipe.pipeline import planner
from criptopipe.storage.tables import FETCHED_AT, Column, Table
from criptopipe.transform import coincap as rows
from criptopipe.transform import exchanges as candle_rows
from criptopipe.transform import prices
from criptopipe.transform.frames import empty_frame, to_frame

Documents = Iterable[Mapping[str, Any]]


@dataclass(frozen=True, kw_only=True)
class Dataset(Table):
    description: str
    #: the source system, for lineage and the catalog (`coincap`, ...)
    source: str
    #: rows from archived documents, with no API call (replay, old snapshot partitions)
    rows_from_documents: Callable[[Documents], list[dict[str, Any]]]
    #: what a run costs at the source, before any call
    estimate: Callable[[planner.PlanRequest], planner.Estimate]
    #: live-only: the source keeps no history, so past days exist only in the archive
    snapshot: bool = False
    #: the column `valid_prices` checks (None: the dataset has no price)
    price_column: str | None = "price_usd"
    #: its asset takes run config `fill_gaps: true` (fetch only missing (coin, day) pairs):
    #: what `criptopipe fill-gaps` may select
    gaps_fillable: bool = False

    def frame(self, records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """Rows as the stores take them: this table's columns plus the archive's."""
        return to_frame(self, records)

    def empty(self) -> pd.DataFrame:
        return empty_frame(self)

    def frame_from_documents(self, docs: Documents) -> pd.DataFrame:
        return self.frame(self.rows_from_documents(docs))


_REGISTRY: dict[str, Dataset] = {}


def register(ds: Dataset) -> Dataset:
    """Add `ds` (or replace the entry of the same name) and return it."""
    _REGISTRY[ds.name] = ds
    return ds


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def get(name: str) -> Dataset:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(_REGISTRY)}") from None


def all_datasets() -> list[Dataset]:
    return list(_REGISTRY.values())


def names() -> list[str]:
    return list(_REGISTRY)


# --------------------------------------------------------------------------- CoinCap

RAW_ASSETS = register(
    Dataset(
        name="raw_assets",
        description="CoinCap's asset list for the tracked coins at the close of each UTC day.",
        source="coincap",
        snapshot=True,
        partition_column="snapshot_date",
        coin_column="coin_id",
        key=("snapshot_date", "coin_id"),
        columns=(
            Column("snapshot_date", "date", nullable=False, description="UTC day of the state"),
            Column("coin_id", "text", nullable=False, description="CoinCap id (slug)"),
            Column("rank", "integer", description="Rank by market cap"),
            Column("symbol", "text"),
            Column("name", "text"),
            Column("supply", "numeric", non_negative=True),
            Column("max_supply", "numeric", non_negative=True),
            Column("market_cap_usd", "numeric", non_negative=True),
            Column("volume_usd_24hr", "numeric", non_negative=True),
            Column("price_usd", "numeric", non_negative=True, description="Live price, USD"),
            Column("change_percent_24hr", "numeric"),
            Column("vwap_24hr", "numeric"),
            Column("explorer", "text"),
            Column("tokens", "jsonb", description="Contract addresses per chain id"),
            FETCHED_AT,
        ),
        indexes=(("coin_id", "snapshot_date"),),
        rows_from_documents=rows.asset_rows_from_documents,
        estimate=planner.raw_assets,
    )
)

ASSET_HISTORY = register(
    Dataset(
        name="asset_history",
        description="Daily (d1) USD price of each tracked coin: one row per coin per day.",
        source="coincap",
        partition_column="day",
        coin_column="coin_id",
        key=("coin_id", "day"),
        columns=(
            Column("coin_id", "text", nullable=False, description="CoinCap id (slug)"),
            Column("day", "date", nullable=False, description="UTC day"),
            Column(
                "price_usd",
                "numeric",
                nullable=False,
                non_negative=True,
                description="24-hour average price (CoinCap d1), USD",
            ),
            Column("circulating_supply", "numeric", non_negative=True),
            # CoinCap's `time` for the point (UTC midnight of `day` for d1)
            Column("time", "timestamptz", nullable=False, description="CoinCap's point time"),
            FETCHED_AT,
        ),
        indexes=(("day",),),
        rows_from_documents=rows.history_rows_from_documents,
        estimate=planner.history,
        gaps_fillable=True,
    )
)

MARKET_SNAPSHOTS = register(
    Dataset(
        name="market_snapshots",
        description="Exchange markets of each tracked coin at the close of each UTC day.",
        source="coincap",
        snapshot=True,
        partition_column="snapshot_date",
        coin_column="coin_id",
        key=("snapshot_date", "coin_id", "exchange_id", "base_id", "quote_id"),
        columns=(
            Column("snapshot_date", "date", nullable=False, description="UTC day of the state"),
            # the coin whose markets were listed (the request's slug)
            Column("coin_id", "text", nullable=False, description="CoinCap id (slug)"),
            Column("exchange_id", "text", nullable=False),
            Column("base_id", "text", nullable=False),
            Column("quote_id", "text", nullable=False),
            Column("base_symbol", "text"),
            Column("quote_symbol", "text"),
            Column("volume_usd_24hr", "numeric", non_negative=True),
            Column("price_usd", "numeric", non_negative=True, description="Live price, USD"),
            Column("volume_percent", "numeric"),
            FETCHED_AT,
        ),
        indexes=(("snapshot_date", "exchange_id"),),
        rows_from_documents=rows.market_rows_from_documents,
        estimate=planner.markets,
    )
)


# --------------------------------------------------------------------------- exchanges


def _price(name: str, description: str = "", nullable: bool = False) -> Column:
    return Column(name, "numeric", nullable=nullable, non_negative=True, description=description)


EXCHANGE_CANDLES = register(
    Dataset(
        name="exchange_candles",
        description="Closed daily candles of the tracked coins' spot pairs on each configured "
        "exchange (CCXT): one row per (exchange, symbol, day).",
        source="exchanges",
        partition_column="day",
        # a fetch and a write slice narrow by pair: one exchange's empty answer for a coin
        # must not touch the coin's rows from another exchange
        coin_column="pair",
        key=("pair", "day"),
        columns=(
            Column("pair", "text", nullable=False, description="exchange:symbol"),
            Column("day", "date", nullable=False, description="UTC day the candle opened"),
            Column("exchange", "text", nullable=False, description="CCXT exchange id"),
            Column("symbol", "text", nullable=False, description="CCXT unified symbol"),
            Column("market_id", "text", nullable=False, description="The exchange's market id"),
            Column("coin_id", "text", nullable=False, description="CoinCap id it maps to"),
            Column("base", "text", nullable=False),
            Column("quote", "text", nullable=False, description="Quote currency (USDT, USD)"),
            _price("open"),
            _price("high"),
            _price("low"),
            _price("close", "Last trade of the UTC day, in the quote currency"),
            _price("base_volume", "Traded amount in the base currency"),
            _price("quote_volume", "Traded value in the quote currency", nullable=True),
            Column("trades", "integer"),
            FETCHED_AT,
        ),
        indexes=(("coin_id", "day"), ("day",)),
        document_columns=("exchange", "symbol", "market_id", "coin_id", "base", "quote"),
        rows_from_documents=candle_rows.candle_rows_from_documents,
        estimate=planner.exchange_candles,
        price_column="close",
    )
)

DAILY_PRICES = register(
    Dataset(
        name="daily_prices",
        description="One price per coin per day across sources: CoinCap's d1 average and each "
        "exchange's VWAP, their median and spread (closes kept beside).",
        source="derived",
        partition_column="day",
        coin_column="coin_id",
        key=("coin_id", "day"),
        columns=(
            Column("coin_id", "text", nullable=False, description="CoinCap id (slug)"),
            Column("day", "date", nullable=False, description="UTC day"),
            _price("coincap_usd", "CoinCap's d1 (24-hour average) price", nullable=True),
            _price("median_usd", "Median of CoinCap's d1 and the exchanges' VWAPs"),
            _price("spread_pct", "(highest - lowest) / median, in %"),
            Column("sources", "integer", nullable=False, description="Prices compared"),
            Column("outlier", "text", description="The price farthest from the median"),
            Column("outlier_pct", "numeric", description="Its distance from the median, in %"),
            Column("prices", "jsonb", nullable=False, description="Every input price, exact"),
            Column("fetched_at", "timestamptz", nullable=False, description="When it was computed"),
        ),
        indexes=(("day",),),
        rows_from_documents=prices.rows_from_documents,
        estimate=planner.derived("daily_prices"),
        price_column="median_usd",
    )
)
