"""Output types built from the dataset registry, checked on every output.

Each dataset's frame type (dagster-pandas) requires its columns plus the raw-archive columns,
non-null where the table says NOT NULL, Decimal (never float) in `numeric` columns,
`datetime.date` in `date` columns, tz-aware UTC datetimes in `timestamptz` columns, no negative
values where the column says so, and a unique natural key. An asset checks every frame against
it before keeping it (`checked_output`), and its output type (`output_type`) verifies that the
`SliceOutput` it hands the IO manager was built that way.
"""

from __future__ import annotations

import warnings
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

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

from criptopipe.datasets import Dataset
from criptopipe.pipeline.output import SliceOutput
from criptopipe.storage.slices import Slice
from criptopipe.storage.tables import Column
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


def _column(c: Column) -> PandasColumn:
    constraints: list[Any] = []
    if not c.nullable:
        constraints.append(NonNullableColumnConstraint())
    if c.pg_type == "numeric":
        if c.non_negative:
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
    with warnings.catch_warnings():
        # dagster-pandas' column and frame types are beta in Dagster 1.13 and the only
        # dataframe validation it ships: kept, their beta warnings silenced here alone.
        warnings.filterwarnings(
            "ignore",
            message="(Class `PandasColumn`|Function `create_dagster_pandas_dataframe_type`)",
            category=dg.BetaWarning,
        )
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


_FRAME_TYPES: dict[str, Any] = {}


def frame_type_of(ds: Dataset) -> Any:
    """The dataset's frame type, built once."""
    if ds.name not in _FRAME_TYPES:
        _FRAME_TYPES[ds.name] = frame_type(ds)
    return _FRAME_TYPES[ds.name]


def _type_check(frame_dagster_type: dg.DagsterType, frame: pd.DataFrame) -> dg.TypeCheck:
    """The frame type's own check. Not `dg.check_dagster_type`: it builds an ephemeral instance,
    run and job context for every call, and that context's event loop cannot shut down inside
    the asyncio loop an asset fetches in (the check runs as each batch is kept), which left
    `coroutine 'BaseEventLoop.shutdown_asyncgens' was never awaited` in every run's log.
    dagster-pandas' check reads only the frame, never the context."""
    try:
        return frame_dagster_type.type_check(cast(Any, None), frame)
    except dg.Failure as failure:
        return dg.TypeCheck(success=False, description=failure.description)


def checked_output(ds: Dataset, window: Slice, *, spill: bool = False) -> SliceOutput:
    """A SliceOutput whose every frame is checked against the dataset's frame type first."""
    frame_dagster_type = frame_type_of(ds)

    def check(frame: pd.DataFrame) -> None:
        result = _type_check(frame_dagster_type, frame)
        if not result.success:
            raise dg.Failure(
                description=f"{ds.name} rows failed their type check: {result.description}",
                metadata=result.metadata,
                allow_retries=False,
            )

    return SliceOutput(ds, window, check=check, spill=spill)


def output_type(ds: Dataset) -> dg.DagsterType:
    """What the asset returns: a SliceOutput of this dataset, every frame checked."""
    display = frame_type_of(ds).display_name

    def type_check(_: Any, value: Any) -> dg.TypeCheck:
        if not isinstance(value, SliceOutput) or value.table.name != ds.name:
            return dg.TypeCheck(False, description=f"expected a SliceOutput of {ds.name}")
        return dg.TypeCheck(
            value.checked,
            description=f"{len(value.parts)} part(s), {value.rows} rows, each checked against "
            f"{display} before it was kept",
            metadata={"parts": len(value.parts), "rows": value.rows},
        )

    return dg.DagsterType(
        name=f"{ds.name}_output",
        type_check_fn=type_check,
        description=f"Rows of `{ds.name}` by slice, each frame validated against {display} "
        "(columns, types, non-negative values, unique key).",
    )
