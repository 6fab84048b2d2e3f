"""Rows to and from PostgreSQL without losing a digit: COPY text out, driver values back in.

Frames reach the store as object columns holding Decimals, dates, aware datetimes and dicts;
COPY's text format is built a column at a time (much faster than adapting each row's values one
by one), and reads come back as object columns holding the driver's values untouched.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd

from criptopipe.storage.tables import Table


def object_frame(names: list[str], rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """Rows as object columns holding the driver's values untouched: `from_records` would turn
    an integer column with a NULL into floats and timestamps into pandas Timestamps."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    return pd.DataFrame(
        {n: pd.Series(list(col), dtype=object) for n, col in zip(names, columns, strict=True)}
    )


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _cell(value: Any) -> str:
    """One value in COPY's text format (UTC ISO timestamps, exact Decimals, escaped text)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return "\\N"
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (date, Decimal, int, float)):
        return value.isoformat() if isinstance(value, date) else str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True).translate(_ESCAPES)
    return str(value).translate(_ESCAPES)


def _column_text(values: list[Any], pg_type: str) -> list[str]:
    """A column's cells as COPY text. Dates, timestamps and ids repeat a lot (a day, a fetch
    time, a coin): each distinct value is formatted once."""
    if pg_type == "numeric":
        return ["\\N" if v is None or v != v else str(v) for v in values]
    if pg_type in ("integer", "bigint", "smallint"):
        # pandas turns an int column holding a None into floats (1.0, NaN) before astype(object)
        return [_integer(v) for v in values]
    if pg_type == "jsonb":
        return [_cell(v) for v in values]
    cache: dict[Any, str] = {}
    out: list[str] = []
    append = out.append
    for v in values:
        text = cache.get(v)
        if text is None:
            text = cache[v] = _cell(v)
        append(text)
    return out


def _integer(value: Any) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return "\\N"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def copy_text(part: pd.DataFrame, ds: Table) -> bytes:
    """Rows of `part` as COPY text, built a column at a time (much faster than adapting each
    row's values one by one)."""
    columns = [_column_text(part[c.name].tolist(), c.pg_type) for c in ds.columns]
    lines = ["\t".join(cells) for cells in zip(*columns, strict=True)]
    return ("\n".join(lines) + "\n").encode() if lines else b""
