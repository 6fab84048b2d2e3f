"""A run with a marker key, as users launch it, against a sandbox that rate-limits it: the
client's Retry-After waits are in the run's structured event log, and the key is nowhere in
what the instance stored (run config, event log, job snapshots, every table of its database)
nor in its files, nor in either warehouse store."""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pymongo
import pytest
from psycopg import sql

from criptopipe.sources.coincap.sandbox import SandboxServer
from criptopipe_tests.e2e.conftest import Project

MARKER = "marker-key-7f3a9c51e2"


@pytest.fixture
def marked_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(port=0, key=MARKER, coins=10) as sb:
        yield sb


def _tables_holding(url: str, text: str) -> list[str]:
    """Every table of the database whose rows mention `text`, in text or in binary columns
    (Dagster keeps its job and plan snapshots zlib-compressed)."""
    found = []
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
            "AND table_type = 'BASE TABLE'"
        ).fetchall()
        for schema, table in tables:
            query = sql.SQL("SELECT count(*) FROM {} t WHERE t::text LIKE %s").format(
                sql.Identifier(schema, table)
            )
            row = conn.execute(query, (f"%{text}%",)).fetchone()
            if row and row[0]:
                found.append(f"{schema}.{table}")
        binary = conn.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'bytea' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        for schema, table, column in binary:
            query = sql.SQL("SELECT {} FROM {}").format(
                sql.Identifier(column), sql.Identifier(schema, table)
            )
            for (value,) in conn.execute(query):
                raw = bytes(value or b"")
                with contextlib.suppress(zlib.error):
                    raw = zlib.decompress(raw)
                if text.encode() in raw:
                    found.append(f"{schema}.{table}.{column}")
                    break
    return found


def _files_holding(root: Path, text: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def test_retries_reach_the_event_log_and_the_key_is_stored_nowhere(
    project: Project,
    marked_sandbox: SandboxServer,
    servers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    marked_sandbox.set_faults(
        {"rules": [{"kind": "status", "status": 429, "retry_after": "1", "times": 2}]}
    )
    res = project.materialize(
        "asset_history",
        "--partition",
        "2024-02-01",
        extra_env={"COINCAP_API_KEY": MARKER, "COINCAP_BASE_URL": marked_sandbox.base_url},
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert MARKER not in res.stdout + res.stderr

    for name, value in project.env.items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs(limit=1)
        waits = [
            e
            for e in instance.all_logs(run.run_id)
            if e.dagster_event is None and "(as its Retry-After asks)" in e.user_message
        ]
        assert run.run_config == {} or MARKER not in str(run.run_config)
    # both 429s, each a warning of the asset's step in the structured log
    assert len(waits) == 2, [e.user_message for e in waits]
    assert {(e.step_key, e.level) for e in waits} == {("asset_history", 30)}
    assert all("HTTP 429" in e.user_message for e in waits)

    dagster_db = servers.get("postgres_dagster", servers["postgres"])
    assert _tables_holding(dagster_db, MARKER) == []
    assert _tables_holding(project.pg_url, MARKER) == []  # the warehouse and its ledger
    assert _files_holding(project.home, MARKER) == []  # compute logs, artifacts
    docs = pymongo.MongoClient(project.mongo_uri).get_default_database()["asset_history"]
    assert docs.count_documents({}) == 3  # the three tracked coins
    assert not [d for d in docs.find() if MARKER in str(d)]
