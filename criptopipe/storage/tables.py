"""The storage contract of a dataset: its columns, natural key and the columns a slice cuts by.

The stores need nothing else to create, write and read a dataset; what a dataset *is* beyond
its table (where its rows come from, how to rebuild it, what it costs) is declared in
`criptopipe.datasets`. Table names equal the Dagster asset names and the MongoDB collection
names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    pg_type: str
    nullable: bool = True
    #: values can never be negative (prices, supplies, volumes): the frame type enforces it
    non_negative: bool = False
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class Table:
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
    #: columns an archived document keeps beside its key and record, for what the record alone
    #: cannot rebuild (an exchange's candle row does not name the CoinCap coin it was mapped to)
    document_columns: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


#: `fetched_at`: when the source answered (UTC, millisecond precision as BSON keeps it)
FETCHED_AT = Column(
    "fetched_at", "timestamptz", nullable=False, description="When the source answered (UTC)"
)
