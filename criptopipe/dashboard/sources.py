"""Where the dashboard reads from, and the one way it reads PostgreSQL.

The dashboard connects with its own, read-only credentials: `DASHBOARD_DATABASE_URL` (a role
with SELECT on the data schema and nothing else; `make dashboard` points it at
`criptopipe_reader`, docker-compose too) and `DASHBOARD_MONGODB_URI` (a user with MongoDB's
`read` role in compose; the embedded wire server has no users). The server refuses the writes,
whatever a transaction says; the read-only transactions below are a second line. Without them
(a deployment that set only the writer's URLs) it falls back to `DATABASE_URL` / `MONGODB_URI`.
Every query runs on the store's connection (UTC session), and a table the pipeline has not
created yet reads as empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from criptopipe import config
from criptopipe.storage.mongo import MongoStore
from criptopipe.storage.postgres import PostgresStore

MONGO_TIMEOUT_MS = 3000


@dataclass(frozen=True)
class Sources:
    """Where to read from. Hashable, so Streamlit's cache keys each result by its source."""

    pg_url: str | None
    schema: str
    mongo_uri: str | None
    budget: int | None  # credits per month; None when COINCAP_CREDIT_BUDGET=off
    #: the CoinCap URL the budget is for (COINCAP_BASE_URL): other URLs' spend is shown apart
    coincap_url: str = config.DEFAULT_BASE_URL
    #: the variables the URLs came from, named in every message about them
    pg_variable: str = "DASHBOARD_DATABASE_URL"
    mongo_variable: str = "DASHBOARD_MONGODB_URI"

    @classmethod
    def from_settings(cls, settings: config.Settings | None = None) -> Sources:
        settings = settings or config.settings()
        return cls(
            pg_url=settings.reader_database_url(),
            schema=settings.pg_schema,
            mongo_uri=settings.reader_mongodb_uri(),
            budget=settings.credit_budget,
            coincap_url=settings.coincap_base_url,
            pg_variable="DASHBOARD_DATABASE_URL"
            if settings.dashboard_database_url
            else "DATABASE_URL",
            mongo_variable="DASHBOARD_MONGODB_URI"
            if settings.dashboard_mongodb_uri
            else "MONGODB_URI",
        )

    def store(self) -> PostgresStore:
        assert self.pg_url is not None
        return PostgresStore(
            self.pg_url,
            schema=self.schema,
            connect_timeout=5,
            application_name="dashboard",
            variable=self.pg_variable,
        )

    def mongo(self) -> MongoStore:
        assert self.mongo_uri is not None
        return MongoStore(self.mongo_uri, timeout_ms=MONGO_TIMEOUT_MS, variable=self.mongo_variable)


@contextmanager
def connect(src: Sources) -> Iterator[psycopg.Connection[Any]]:
    """The dashboard's PostgreSQL connection: its own role, read-only transactions, UTC."""
    with src.store().connect(read_only=True) as conn:
        yield conn


def read(
    src: Sources,
    query: sql.SQL | sql.Composed,
    params: tuple[Any, ...] = (),
    needs: str | None = None,
) -> pd.DataFrame:
    """The query's rows, in a read-only transaction; an empty frame when the table it `needs`
    does not exist yet (checked on the same connection: one round trip, not two)."""
    if not src.pg_url:
        return pd.DataFrame()
    with connect(src) as conn:
        if needs is not None and not src.store().table_exists(conn, needs):
            return pd.DataFrame()
        cur = conn.execute(query, params)
        cols = [c.name for c in cur.description or []]
        return pd.DataFrame(cur.fetchall(), columns=cols)


def table(src: Sources, name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(src.schema), sql.Identifier(name))


def tables(src: Sources) -> frozenset[str]:
    """The schema's tables: pages use it to tell 'nothing loaded yet' from a failure."""
    if not src.pg_url:
        return frozenset()
    frame = read(
        src,
        sql.SQL("SELECT table_name FROM information_schema.tables WHERE table_schema = %s"),
        (src.schema,),
    )
    return frozenset(frame["table_name"]) if not frame.empty else frozenset()
