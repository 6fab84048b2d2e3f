"""PostgreSQL: typed tables per dataset, and slice replacement in one transaction.

`replace_slice` deletes the slice and `COPY`s the new rows inside ONE transaction: readers see
the old slice or the new one, never half and never none, and a writer killed mid-load leaves the
previous slice untouched (the transaction never commits). Every session runs with
`TimeZone=UTC`, so a server configured for another zone shifts no row across days.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from criptopipe.storage import pg_errors, schema
from criptopipe.storage.copy_format import copy_text, object_frame
from criptopipe.storage.errors import (
    StorageError,
    WriteResult,
    redact_url,
    refuse_duplicate_keys,
)
from criptopipe.storage.slices import Slice
from criptopipe.storage.tables import Table

COPY_CHUNK = 20_000


class PostgresStore:
    def __init__(
        self,
        url: str,
        schema: str = "coincap",
        connect_timeout: int = 10,
        application_name: str = "criptopipe",
        variable: str = "DATABASE_URL",
    ) -> None:
        self.url, self.schema, self.connect_timeout = url, schema, connect_timeout
        self.application_name = application_name
        #: the setting the URL came from, named in every message about it
        self.variable = variable
        #: the password in every form a driver's message may quote it
        self.secrets = pg_errors.pg_secrets(url)

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
                application_name=self.application_name,
            )
        except psycopg.Error as exc:
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
        except psycopg.Error as exc:
            raise self._explain(exc) from None

    def check(self, timeout_s: int = 3) -> None:
        """One connection with a short timeout, closed at once: the URL parses, the server
        answers, takes the credentials and has the database. Raises the classified error."""
        try:
            psycopg.connect(
                self.url, connect_timeout=timeout_s, application_name=self.application_name
            ).close()
        except psycopg.Error as exc:
            raise self._explain(exc, timeout_s) from None

    def classify(
        self, exc: psycopg.Error, conn: psycopg.Connection[Any], doing: str
    ) -> StorageError:
        """A driver error on `conn` as the storage error callers act on: a dropped connection
        may pass on retry, anything else would fail the same way again."""
        if isinstance(exc, psycopg.OperationalError) and conn.broken:
            return self._explain(exc)
        return self._failure(exc, doing)

    def _failure(self, exc: psycopg.Error, doing: str = "") -> StorageError:
        """Any other server error (bad data, constraint, permission) with the server's context."""
        return pg_errors.server_failure(exc, self.url, self.secrets, doing)

    def _explain(self, exc: Exception, timeout_s: int | None = None) -> StorageError:
        """A connection error as what callers act on (`pg_errors.connect_failure`)."""
        return pg_errors.connect_failure(
            exc, self.url, self.variable, self.secrets, timeout_s or self.connect_timeout
        )

    # ------------------------------------------------------------------ DDL

    def table(self, ds: Table) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(ds.name))

    def qualified_name(self, ds: Table) -> str:
        return f"{self.schema}.{ds.name}"

    def ensure_schema(self, tables: Iterable[Table] = ()) -> None:
        """Create or migrate (add missing columns) the pipeline's own tables and `tables`,
        idempotently and safely under concurrency (an advisory lock serialises first runs).
        The only place DDL runs (writers call it once per run, readers never), and only for
        what the catalog shows missing (`schema.py` says why)."""
        with self.connect() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('criptopipe.ddl'))")
            present = schema.relations(conn, self.schema)
            if present is None:
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
                )
                present = {}
            statements = schema.system_ddl(self.schema, present)
            for ds in tables:
                statements += schema.table_ddl(self.schema, ds, present)
            for statement in statements:
                conn.execute(statement)

    # ------------------------------------------------------------------ writes

    def replace_slice(self, ds: Table, slc: Slice, frame: pd.DataFrame) -> WriteResult:
        """Replace exactly `slc` with `frame`'s rows: DELETE + COPY in one transaction."""
        slc.check_rows(ds, frame)
        refuse_duplicate_keys(ds.key, frame)
        started = time.monotonic()
        names = ds.column_names
        where, params = slc.where(ds)
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
                            copy.write(copy_text(part, ds))
            except psycopg.Error as exc:
                if isinstance(exc, psycopg.OperationalError) and conn.broken:
                    raise self._explain(exc) from exc
                raise self._failure(exc, f"writing {ds.name} {slc.describe()}") from exc
        return WriteResult(len(frame), max(deleted, 0), time.monotonic() - started)

    # ------------------------------------------------------------------ reads

    def read_slice(self, ds: Table, slc: Slice) -> pd.DataFrame:
        """The slice's rows with the dataset's columns (Decimal, date, UTC datetimes), by key."""
        where, params = slc.where(ds)
        query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {}").format(
            sql.SQL(", ").join(sql.Identifier(n) for n in ds.column_names),
            self.table(ds),
            where,
            sql.SQL(", ").join(sql.Identifier(k) for k in ds.key),
        )
        with self.connect(read_only=True) as conn:
            if not self.table_exists(conn, ds.name):
                return object_frame(ds.column_names, [])
            rows = conn.execute(query, params).fetchall()
        return object_frame(ds.column_names, rows)

    def keys(self, ds: Table, slc: Slice) -> set[tuple[Any, ...]]:
        where, params = slc.where(ds)
        query = sql.SQL("SELECT {} FROM {} WHERE {}").format(
            sql.SQL(", ").join(sql.Identifier(k) for k in ds.key), self.table(ds), where
        )
        with self.connect(read_only=True) as conn:
            if not self.table_exists(conn, ds.name):
                return set()
            return {tuple(r) for r in conn.execute(query, params).fetchall()}

    def count(self, ds: Table, slc: Slice) -> int:
        where, params = slc.where(ds)
        with self.connect(read_only=True) as conn:
            if not self.table_exists(conn, ds.name):
                return 0
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {}").format(self.table(ds), where), params
            ).fetchone()
        return int(row[0]) if row else 0

    def table_rows(self, ds: Table) -> tuple[str, int]:
        """The database's name and the whole table's row count, as a catalog shows them."""
        with self.connect(read_only=True) as conn:
            database = conn.info.dbname
            if not self.table_exists(conn, ds.name):
                return database, 0
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self.table(ds))).fetchone()
        return database, int(row[0]) if row else 0

    def days_loaded(self, ds: Table) -> list[tuple[date, int]]:
        """(day, rows) for every day the table holds."""
        with self.connect(read_only=True) as conn:
            if not self.table_exists(conn, ds.name):
                return []
            rows = conn.execute(
                sql.SQL("SELECT {}, count(*) FROM {} GROUP BY 1 ORDER BY 1").format(
                    sql.Identifier(ds.partition_column), self.table(ds)
                )
            ).fetchall()
        return [(r[0], int(r[1])) for r in rows]

    def table_exists(self, conn: psycopg.Connection[Any], name: str) -> bool:
        """Whether `schema.name` exists, on the caller's connection (one round trip)."""
        qualified = sql.Identifier(self.schema, name).as_string(conn)
        row = conn.execute("SELECT to_regclass(%s)", (qualified,)).fetchone()
        return bool(row and row[0])

    def latest_coins(self, ds: Table) -> tuple[date | None, list[str]]:
        """The newest day `ds` holds and the coins it holds for that day."""
        with self.connect(read_only=True) as conn:
            if not self.table_exists(conn, ds.name):
                return None, []
            rows = conn.execute(
                sql.SQL(
                    "SELECT {day}, {coin} FROM {t} WHERE {day} = (SELECT max({day}) FROM {t}) "
                    "ORDER BY {coin}"
                ).format(
                    day=sql.Identifier(ds.partition_column),
                    coin=sql.Identifier(ds.coin_column),
                    t=self.table(ds),
                )
            ).fetchall()
        if not rows:
            return None, []
        return rows[0][0], sorted({str(r[1]) for r in rows})
