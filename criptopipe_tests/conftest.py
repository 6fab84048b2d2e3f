"""Real servers for the whole suite, started once per session on free ports.

PostgreSQL and the MongoDB wire server are real processes reached over TCP. Point
`DATABASE_URL` / `MONGODB_URI` at other servers (any PostgreSQL, a genuine MongoDB) and the same
suite runs against them instead. Each test gets its own Postgres schema and Mongo database, so
tests never see each other's rows.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pymongo
import pytest
from psycopg import sql

from criptopipe_tests.servers import throwaway_servers


@pytest.fixture(autouse=True)
def no_stale_dagster_state_storage() -> Iterator[None]:
    """Dagster keeps the current instance's defs-state storage in a context variable that its
    test helpers (`build_schedule_context` inside `instance_for_test`) can leave set to a
    disposed instance; the next in-process `dg.materialize` then fails with "Attempted to
    resolve undefined DagsterInstance weakref". Each test starts without it."""
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)
    yield
    _current_storage.set(None)


@pytest.fixture(scope="session")
def servers() -> Iterator[dict[str, str]]:
    external_pg = os.environ.get("DATABASE_URL")
    external_mongo = os.environ.get("MONGODB_URI")
    if external_pg and external_mongo:
        yield {"postgres": external_pg, "mongo": external_mongo}
        return
    base = Path(tempfile.mkdtemp(prefix="criptopipe-test-"))
    with throwaway_servers(base) as (pg, mongo):
        yield {
            "postgres": external_pg or pg.url(),
            "mongo": external_mongo or mongo.url(),
            "postgres_dagster": pg.url("dagster"),
            "postgres_port": str(pg.port),
        }


@pytest.fixture(scope="session")
def pg_url(servers: dict[str, str]) -> str:
    return servers["postgres"]


@pytest.fixture(scope="session")
def mongo_url(servers: dict[str, str]) -> str:
    return servers["mongo"]


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    """A fresh schema name for one test; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def mongo_db(mongo_url: str) -> Iterator[str]:
    """A fresh database name for one test; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    yield name
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=5000)
    try:
        client.drop_database(name)
    finally:
        client.close()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` runs the suite on two workers (pytest-xdist, `--dist loadgroup`). Each test
    module stays on one worker, so its module-scoped fixtures (servers, loaded data) are built
    once; the modules that share the session's `make run` project (`made`) share one worker."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            uses_made = "made" in getattr(item, "fixturenames", ())
            group = "made" if uses_made else item.nodeid.split("::")[0]
            item.add_marker(pytest.mark.xdist_group(group))
