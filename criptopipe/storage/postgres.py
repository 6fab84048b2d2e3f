"""PostgreSQL: typed tables per dataset, and slice replacement in one transaction.

`replace_slice` deletes the slice and `COPY`s the new rows inside ONE transaction: readers see
the old slice or the new one, never half and never none, and a writer killed mid-load leaves the
previous slice untouched (the transaction never commits). Every session runs with
`TimeZone=UTC`, so a server configured for another zone shifts no row across days.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from criptopipe.storage import leases
from criptopipe.storage.datasets import Dataset
from criptopipe.storage.errors import (
    StorageAuthError,
    StorageError,
    StorageUnavailableError,
    WriteResult,
    host_port,
    redact_url,
    refuse_duplicate_keys,
    scrub,
)
from criptopipe.storage.slices import Slice, check_rows

COPY_CHUNK = 20_000


def _pg_password(url: str) -> str | None:
    try:
        return psycopg.conninfo.conninfo_to_dict(url).get("password")  # type: ignore[return-value]
    except psycopg.ProgrammingError:
        return None


class PostgresStore:
    def __init__(self, url: str, schema: str = "coincap", connect_timeout: int = 10) -> None:
        self.url, self.schema, self.connect_timeout = url, schema, connect_timeout

    def __repr__(self) -> str:
        return f"PostgresStore({redact_url(self.url)!r}, schema={self.schema!r})"

    # ------------------------------------------------------------------ connections

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[psycopg.Connection[Any]]:
        try:
            conn = psycopg.connect(
                self.url,
                connect_timeout=self.connect_timeout,
                options="-c TimeZone=UTC",
                application_name="criptopipe",
            )
        except psycopg.OperationalError as exc:
            raise self._explain(exc) from None
        try:
            if read_only:
                conn.read_only = True
            yield conn
        except psycopg.OperationalError as exc:
            if conn.broken:  # the server went away mid-way: a retry may pass
                raise self._explain(exc) from exc
            raise self._failure(exc) from exc
        except psycopg.Error as exc:
            raise self._failure(exc) from exc
        finally:
            conn.close()

    def session(self) -> psycopg.Connection[Any]:
        """A connection the caller keeps open (and closes), in autocommit: a write lease lives
        exactly as long as it. TCP keepalives on both ends make the server drop it (and so free
        the lease) within about a minute of its client vanishing without closing it."""
        keepalive = {"idle": 30, "interval": 10, "count": 3}
        server = " ".join(f"-c tcp_keepalives_{k}={v}" for k, v in keepalive.items())
        try:
            return psycopg.connect(
                self.url,
                connect_timeout=self.connect_timeout,
                autocommit=True,
                options=f"-c TimeZone=UTC {server}",
                application_name="criptopipe-lease",
                keepalives=1,
                keepalives_idle=keepalive["idle"],
                keepalives_interval=keepalive["interval"],
                keepalives_count=keepalive["count"],
            )
        except psycopg.OperationalError as exc:
            raise self._explain(exc) from None

    def classify(
        self, exc: psycopg.Error, conn: psycopg.Connection[Any], doing: str
    ) -> StorageError:
        """A driver error on `conn` as the storage error callers act on: a dropped connection
        may pass on retry, anything else would fail the same way again."""
        if isinstance(exc, psycopg.OperationalError) and conn.broken:
            explained = self._explain(exc)
            assert isinstance(explained, StorageError)
            return explained
        return self._failure(exc, doing)

    def _failure(self, exc: psycopg.Error, doing: str = "") -> StorageError:
        """Any other server error (bad data, constraint, permission) with the server's context."""
        lines = str(exc).strip().splitlines()
        detail = lines[0] if lines else repr(exc)
        if exc.diag.context:
            detail += f" ({exc.diag.context.strip().splitlines()[0]})"
        where = host_port(self.url, 5432)
        return StorageError(
            scrub(
                f"PostgreSQL at {where}{': ' + doing if doing else ''} failed: {detail}",
                _pg_password(self.url),
            )
        )

    def _explain(self, exc: Exception) -> Exception:
        where = host_port(self.url, 5432)
        text = scrub(
            str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc),
            _pg_password(self.url),
        )
        if "password authentication failed" in str(exc) or "authentication failed" in str(exc):
            return StorageAuthError(
                f"PostgreSQL at {where} refused the credentials in DATABASE_URL "
                f"({redact_url(self.url)}): wrong user or password. {text}"
            )
        return StorageUnavailableError(
            f"cannot reach PostgreSQL at {where} (gave up after {self.connect_timeout}s): {text}. "
            "Is the server running and DATABASE_URL right? `make run` starts a local one."
        )

    # ------------------------------------------------------------------ DDL

    def table(self, ds: Dataset) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(ds.name))

    def qualified_name(self, ds: Dataset) -> str:
        return f"{self.schema}.{ds.name}"

    def ensure_schema(self, datasets: list[Dataset] | None = None) -> None:
        """Create or migrate (add missing columns) every table, and the write-lease table,
        idempotently and concurrently safely (an advisory lock serialises concurrent first
        runs). What exists is read from the catalog first and no DDL runs for it: `ALTER TABLE`
        and `CREATE INDEX` lock their table even when there is nothing to do, so a writer
        starting while another one's COPY is open would wait for it (and make every reader
        queue behind its lock request)."""
        from criptopipe.storage.datasets import DATASETS

        with self.connect() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('criptopipe.ddl'))")
            present = self._relations(conn)
            if present is None:
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
                )
                present = {}
            for ds in datasets or list(DATASETS.values()):
                columns = present.get(ds.name)
                if columns is None:
                    cols = [
                        sql.SQL("{} {}{}").format(
                            sql.Identifier(c.name),
                            sql.SQL(c.pg_type),
                            sql.SQL("" if c.nullable else " NOT NULL"),
                        )
                        for c in ds.columns
                    ]
                    pk = sql.SQL(", ").join(sql.Identifier(k) for k in ds.key)
                    conn.execute(
                        sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}))").format(
                            self.table(ds), sql.SQL(", ").join(cols), pk
                        )
                    )
                    columns = set(ds.column_names)
                for c in ds.columns:  # migrations: columns added to the contract later
                    if c.name not in columns:
                        conn.execute(
                            sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                                self.table(ds), sql.Identifier(c.name), sql.SQL(c.pg_type)
                            )
                        )
                for idx in ds.indexes:
                    name = f"{ds.name}_{'_'.join(idx)}_idx"
                    if name not in present:
                        conn.execute(
                            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                                sql.Identifier(name),
                                self.table(ds),
                                sql.SQL(", ").join(sql.Identifier(c) for c in idx),
                            )
                        )
            if leases.TABLE not in present:
                for statement in leases.ddl(self.schema):
                    conn.execute(statement)

    def _relations(self, conn: psycopg.Connection[Any]) -> dict[str, set[str]] | None:
        """Tables and indexes of the schema with their columns; None when the schema is
        missing."""
        if not conn.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
        ).fetchone():
            return None
        rows = conn.execute(
            "SELECT c.relname, a.attname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
            "AND NOT a.attisdropped WHERE n.nspname = %s",
            (self.schema,),
        ).fetchall()
        out: dict[str, set[str]] = {}
        for relname, attname in rows:
            out.setdefault(str(relname), set())
            if attname is not None:
                out[str(relname)].add(str(attname))
        return out

    # ------------------------------------------------------------------ writes

    def _where(self, ds: Dataset, slc: Slice) -> tuple[sql.Composable, list[Any]]:
        where = sql.SQL("{} >= %s AND {} < %s").format(
            sql.Identifier(ds.partition_column), sql.Identifier(ds.partition_column)
        )
        params: list[Any] = [slc.start, slc.end]
        if slc.coins is not None:
            where = sql.SQL("{} AND {} = ANY(%s)").format(where, sql.Identifier(ds.coin_column))
            params.append(sorted(slc.coins))
        return where, params

    def replace_slice(self, ds: Dataset, slc: Slice, frame: pd.DataFrame) -> WriteResult:
        """Replace exactly `slc` with `frame`'s rows: DELETE + COPY in one transaction."""
        check_rows(ds.partition_column, ds.coin_column, ds.key, slc, frame)
        refuse_duplicate_keys(ds.key, frame)
        started = time.monotonic()
        names = ds.column_names
        where, params = self._where(ds, slc)
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
            self.table(ds), sql.SQL(", ").join(sql.Identifier(n) for n in names)
        )
        with self.connect() as conn:
            try:
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute(
                        sql.SQL("DELETE FROM {} WHERE {}").format(self.table(ds), where), params
                    )
                    deleted = cur.rowcount
                    with cur.copy(copy_sql) as copy:
                        for start in range(0, len(frame), COPY_CHUNK):
                            part = frame.iloc[start : start + COPY_CHUNK]
                            copy.write(_copy_text(part, ds))
            except psycopg.Error as exc:
                if isinstance(exc, psycopg.OperationalError) and conn.broken:
                    raise self._explain(exc) from exc
                raise self._failure(exc, f"writing {ds.name} {slc.describe()}") from exc
        return WriteResult(len(frame), max(deleted, 0), time.monotonic() - started)

    # ------------------------------------------------------------------ reads

    def read_slice(self, ds: Dataset, slc: Slice) -> pd.DataFrame:
        """The slice's rows with the dataset's columns (Decimal, date, UTC datetimes), by key."""
        where, params = self._where(ds, slc)
        query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {}").format(
            sql.SQL(", ").join(sql.Identifier(n) for n in ds.column_names),
            self.table(ds),
            where,
            sql.SQL(", ").join(sql.Identifier(k) for k in ds.key),
        )
        with self.connect(read_only=True) as conn:
            if not self._exists(conn, ds):
                return _object_frame(ds.column_names, [])
            rows = conn.execute(query, params).fetchall()
        return _object_frame(ds.column_names, rows)

    def keys(self, ds: Dataset, slc: Slice) -> set[tuple[Any, ...]]:
        where, params = self._where(ds, slc)
        query = sql.SQL("SELECT {} FROM {} WHERE {}").format(
            sql.SQL(", ").join(sql.Identifier(k) for k in ds.key), self.table(ds), where
        )
        with self.connect(read_only=True) as conn:
            if not self._exists(conn, ds):
                return set()
            return {tuple(r) for r in conn.execute(query, params).fetchall()}

    def count(self, ds: Dataset, slc: Slice) -> int:
        where, params = self._where(ds, slc)
        with self.connect(read_only=True) as conn:
            if not self._exists(conn, ds):
                return 0
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {}").format(self.table(ds), where), params
            ).fetchone()
        return int(row[0]) if row else 0

    def days_loaded(self, ds: Dataset) -> list[tuple[date, int]]:
        """(day, rows) for every day the table holds."""
        with self.connect(read_only=True) as conn:
            if not self._exists(conn, ds):
                return []
            rows = conn.execute(
                sql.SQL("SELECT {}, count(*) FROM {} GROUP BY 1 ORDER BY 1").format(
                    sql.Identifier(ds.partition_column), self.table(ds)
                )
            ).fetchall()
        return [(r[0], int(r[1])) for r in rows]

    def _exists(self, conn: psycopg.Connection[Any], ds: Dataset) -> bool:
        row = conn.execute("SELECT to_regclass(%s)", (f'"{self.schema}"."{ds.name}"',)).fetchone()
        return bool(row and row[0])


def _object_frame(names: list[str], rows: list[tuple[Any, ...]]) -> pd.DataFrame:
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


def _copy_text(part: pd.DataFrame, ds: Dataset) -> bytes:
    """Rows of `part` as COPY text, built a column at a time (much faster than adapting each
    row's values one by one)."""
    columns = [_column_text(part[c.name].tolist(), c.pg_type) for c in ds.columns]
    lines = ["\t".join(cells) for cells in zip(*columns, strict=True)]
    return ("\n".join(lines) + "\n").encode() if lines else b""
