"""The three datasets: their PostgreSQL columns, natural keys and the slice they are cut by.

This is the schema contract shared by the transform (which builds frames with exactly these
columns), the stores (DDL, slice writes, reads), the checks and the dashboard. Table names equal
the Dagster asset names and the MongoDB collection names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    pg_type: str
    nullable: bool = True


@dataclass(frozen=True)
class Dataset:
    name: str
    #: the UTC day a row belongs to (a `date` column): the partition column
    partition_column: str
    #: the coin a row belongs to: slices may be narrowed to a set of coins
    coin_column: str
    #: natural key, the primary key in PostgreSQL and the unique index in MongoDB
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    #: extra indexes (column tuples) the dashboard and checks need
    indexes: tuple[tuple[str, ...], ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


_FETCH = Column("fetched_at", "timestamptz", nullable=False)

RAW_ASSETS = Dataset(
    name="raw_assets",
    partition_column="snapshot_date",
    coin_column="coin_id",
    key=("snapshot_date", "coin_id"),
    columns=(
        Column("snapshot_date", "date", nullable=False),
        Column("coin_id", "text", nullable=False),
        Column("rank", "integer"),
        Column("symbol", "text"),
        Column("name", "text"),
        Column("supply", "numeric"),
        Column("max_supply", "numeric"),
        Column("market_cap_usd", "numeric"),
        Column("volume_usd_24hr", "numeric"),
        Column("price_usd", "numeric"),
        Column("change_percent_24hr", "numeric"),
        Column("vwap_24hr", "numeric"),
        Column("explorer", "text"),
        Column("tokens", "jsonb"),
        _FETCH,
    ),
    indexes=(("coin_id", "snapshot_date"),),
)

ASSET_HISTORY = Dataset(
    name="asset_history",
    partition_column="day",
    coin_column="coin_id",
    key=("coin_id", "day"),
    columns=(
        Column("coin_id", "text", nullable=False),
        Column("day", "date", nullable=False),
        Column("price_usd", "numeric", nullable=False),
        Column("circulating_supply", "numeric"),
        # CoinCap's `time` for the point (UTC midnight of `day` for d1)
        Column("time", "timestamptz", nullable=False),
        _FETCH,
    ),
    indexes=(("day",),),
)

MARKET_SNAPSHOTS = Dataset(
    name="market_snapshots",
    partition_column="snapshot_date",
    coin_column="coin_id",
    key=("snapshot_date", "coin_id", "exchange_id", "base_id", "quote_id"),
    columns=(
        Column("snapshot_date", "date", nullable=False),
        # the coin whose markets were listed (the request's slug)
        Column("coin_id", "text", nullable=False),
        Column("exchange_id", "text", nullable=False),
        Column("base_id", "text", nullable=False),
        Column("quote_id", "text", nullable=False),
        Column("base_symbol", "text"),
        Column("quote_symbol", "text"),
        Column("volume_usd_24hr", "numeric"),
        Column("price_usd", "numeric"),
        Column("volume_percent", "numeric"),
        _FETCH,
    ),
    indexes=(("snapshot_date", "exchange_id"),),
)

DATASETS: dict[str, Dataset] = {d.name: d for d in (RAW_ASSETS, ASSET_HISTORY, MARKET_SNAPSHOTS)}


def dataset(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None
