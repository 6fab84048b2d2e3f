"""The dashboard holds no write power: the environment `make run` / `make dashboard` set up
(embedded PostgreSQL and MongoDB wire server, started in a fresh project folder) gives it the
`criptopipe_reader` role, which reads every table of the data schema -- those the pipeline
creates later too -- and whose writes the server refuses, whatever its transactions say. The
embedded MongoDB wire server has no users to give it (checked here, so the docs stay true)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pymongo
import pytest
from pymongo import errors as mongo_errors

from criptopipe.dashboard import queries
from criptopipe.datasets import all_datasets
from criptopipe.local import env as localenv
from criptopipe.local.postgres import READER_ROLE
from criptopipe.storage import ops_log
from criptopipe.storage.postgres import PostgresStore
from criptopipe_tests.dashboard.fixtures import (
    PROBE_FAILURE,
    assert_dashboard_reads_but_cannot_write,
)

SCHEMA = "market"  # not the default: the role follows CRIPTOPIPE_PG_SCHEMA


@pytest.fixture
def local_project(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project folder with no servers configured, as on a fresh machine."""
    for key in ("DATABASE_URL", "MONGODB_URI", "DASHBOARD_DATABASE_URL", "DASHBOARD_MONGODB_URI"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CRIPTOPIPE_PG_SCHEMA", SCHEMA)
    root = Path(tempfile.mkdtemp(prefix="criptopipe-local-"))
    root.chmod(0o755)  # the `postgres` user must be able to enter it
    try:
        yield root
    finally:
        localenv.stop(root)
        shutil.rmtree(root, ignore_errors=True)


def test_make_dashboard_reads_with_a_role_the_server_refuses_writes(
    local_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = localenv.prepare(local_project, with_sandbox=False).env
    assert env["DASHBOARD_DATABASE_URL"].startswith(f"postgresql://{READER_ROLE}:")
    # the pipeline writes as the owner, after the role exists: tables and the ops log
    PostgresStore(env["DATABASE_URL"], schema=SCHEMA).ensure_schema(all_datasets())
    ops_log.record_failure(PostgresStore(env["DATABASE_URL"], schema=SCHEMA), PROBE_FAILURE)

    # a second `make` command finds the role there and keeps it as it is
    again = localenv.prepare(local_project, with_sandbox=False).env
    assert again["DASHBOARD_DATABASE_URL"] == env["DASHBOARD_DATABASE_URL"]

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DATABASE_URL")  # the dashboard needs nothing of the writer's
    src = queries.Sources.from_settings()
    assert src.pg_url == env["DASHBOARD_DATABASE_URL"] and src.schema == SCHEMA
    assert_dashboard_reads_but_cannot_write(src)

    # a PostgreSQL of the user's own (and the embedded wire server): the dashboard is not
    # pointed at the embedded PostgreSQL
    monkeypatch.setenv("DATABASE_URL", env["DATABASE_URL"])
    for key in ("MONGODB_URI", "DASHBOARD_DATABASE_URL", "DASHBOARD_MONGODB_URI"):
        monkeypatch.delenv(key)
    own = localenv.prepare(local_project, with_sandbox=False).env
    assert "DASHBOARD_DATABASE_URL" not in own and own["DASHBOARD_MONGODB_URI"]


def test_the_embedded_mongo_server_has_no_users_to_restrict(mongo_url: str, mongo_db: str) -> None:
    """nx-27017 answers `createUser` with ok and creates nothing, and a client that sends
    credentials cannot log in: locally the dashboard's MongoDB login cannot be a read-only
    user (docker-compose's real MongoDB gives it one, deploy/mongo-init.js)."""
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=3000)
    try:
        db = client[mongo_db]
        db.command("createUser", READER_ROLE, pwd="x", roles=[{"role": "read", "db": mongo_db}])
        assert not db.command("usersInfo", READER_ROLE).get("users")
    finally:
        client.close()
    host = mongo_url.split("//", 1)[1].split("/", 1)[0]
    reader: pymongo.MongoClient = pymongo.MongoClient(
        f"mongodb://{READER_ROLE}:x@{host}/{mongo_db}?authSource={mongo_db}",
        serverSelectionTimeoutMS=3000,
    )
    try:
        with pytest.raises((mongo_errors.PyMongoError, KeyError)):
            reader[mongo_db]["probe"].find_one()
    finally:
        reader.close()
