"""dagster-pandas frame types built from the schema contract, checked on every output.

Each dataset's type requires its columns plus the raw-archive columns, non-null where the table
says NOT NULL, Decimal (never float) in `numeric` columns, `datetime.date` in `date` columns,
tz-aware UTC datetimes in `timestamptz` columns, non-negative prices, and a unique natural key.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import dagster as dg
import pandas as pd
from dagster_pandas import PandasColumn, create_dagster_pandas_dataframe_type
from dagster_pandas.constraints import (
    ColumnConstraint,
    ColumnConstraintViolationException,
    DataFrameConstraint,
    DataFrameConstraintViolationException,
    NonNullableColumnConstraint,
)

from criptopipe.storage.datasets import DATASETS, Column, Dataset
from criptopipe.transform.frames import ARCHIVE_COLUMNS


def _bad_values(series: pd.Series, ok: Any) -> list[Any]:
    return [v for v in series.tolist() if v is not None and not ok(v)][:5]


class ValuesOfTypeConstraint(ColumnConstraint):
    """Every non-null value passes `ok` (e.g. is a Decimal): catches floats sneaking in."""

    def __init__(self, what: str, ok: Any) -> None:
        self.what, self.ok = what, ok
        text = f"values must be {what}"
        super().__init__(error_description=text, markdown_description=text)

    def validate(self, dataframe: pd.DataFrame, column_name: str) -> None:
        bad = _bad_values(dataframe[column_name], self.ok)
        if bad:
            raise ColumnConstraintViolationException(
                constraint_name=self.name,
                constraint_description=f"{self.error_description}; found {bad!r}",
                column_name=column_name,
            )


class UniqueKeyConstraint(DataFrameConstraint):
    """No two rows share the dataset's natural key."""

    def __init__(self, key: tuple[str, ...]) -> None:
        self.key = key
        text = f"({', '.join(key)}) must be unique"
        super().__init__(error_description=text, markdown_description=text)

    def validate(self, dataframe: pd.DataFrame) -> None:
        if dataframe.empty:
            return
        dupes = dataframe[dataframe.duplicated(list(self.key), keep=False)]
        if not dupes.empty:
            sample = dupes[list(self.key)].head(5).to_dict("records")
            raise DataFrameConstraintViolationException(
                constraint_name=self.name,
                constraint_description=f"{self.error_description}; duplicates: {sample}",
            )


def _is_decimal(v: Any) -> bool:
    return isinstance(v, Decimal) and v.is_finite()


def _is_non_negative_decimal(v: Any) -> bool:
    return _is_decimal(v) and v >= 0


def _is_date(v: Any) -> bool:
    return isinstance(v, date) and not isinstance(v, datetime)


def _is_utc_datetime(v: Any) -> bool:
    return isinstance(v, datetime) and v.tzinfo is not None and v.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


NON_NEGATIVE = {"price_usd", "supply", "max_supply", "market_cap_usd", "volume_usd_24hr"}


def _column(c: Column) -> PandasColumn:
    constraints: list[Any] = []
    if not c.nullable:
        constraints.append(NonNullableColumnConstraint())
    if c.pg_type == "numeric":
        if c.name in NON_NEGATIVE:
            constraints.append(
                ValuesOfTypeConstraint("non-negative Decimals", _is_non_negative_decimal)
            )
        else:
            constraints.append(ValuesOfTypeConstraint("Decimals", _is_decimal))
    elif c.pg_type == "date":
        constraints.append(ValuesOfTypeConstraint("datetime.date", _is_date))
    elif c.pg_type == "timestamptz":
        constraints.append(ValuesOfTypeConstraint("UTC datetimes", _is_utc_datetime))
    elif c.pg_type == "integer":
        constraints.append(ValuesOfTypeConstraint("integers", lambda v: isinstance(v, int)))
    return PandasColumn(c.name, constraints=constraints)


def frame_type(ds: Dataset) -> Any:
    columns = [_column(c) for c in ds.columns]
    columns.append(PandasColumn("record", constraints=[NonNullableColumnConstraint()]))
    columns.append(PandasColumn("request_path", constraints=[NonNullableColumnConstraint()]))
    assert tuple(c.name for c in columns[-2:]) == ARCHIVE_COLUMNS
    return create_dagster_pandas_dataframe_type(
        name=f"{ds.name}_frame",
        description=f"Rows of `{ds.name}`, keyed by ({', '.join(ds.key)}).",
        columns=columns,
        dataframe_constraints=[UniqueKeyConstraint(ds.key)],
    )


RawAssetsFrame = frame_type(DATASETS["raw_assets"])
AssetHistoryFrame = frame_type(DATASETS["asset_history"])
MarketSnapshotsFrame = frame_type(DATASETS["market_snapshots"])


def _check_batches(_: Any, value: Any) -> dg.TypeCheck:
    from criptopipe.transform.batches import SpilledFrames

    if not isinstance(value, SpilledFrames):
        return dg.TypeCheck(False, description=f"expected SpilledFrames, got {type(value)}")
    return dg.TypeCheck(
        value.validated,
        description=f"{len(value.batches)} batch(es), {value.rows} rows, each checked against "
        f"{AssetHistoryFrame.display_name} before it was spilled",
        metadata={"batches": len(value.batches), "rows": value.rows},
    )


#: asset_history's output: batches spilled to disk, each checked against AssetHistoryFrame
AssetHistoryBatches = dg.DagsterType(
    name="asset_history_batches",
    type_check_fn=_check_batches,
    description="Rows of `asset_history` in batches of coins, each validated against "
    "asset_history_frame (columns, types, non-negative prices, unique key).",
)
