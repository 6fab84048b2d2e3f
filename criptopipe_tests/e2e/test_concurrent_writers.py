"""Overlapping writers take turns; disjoint ones write side by side (issue 16).

Two `dagster asset materialize` processes share one Dagster instance whose CoinCap pool has two
slots (the parallelism docs/operations.md offers), and one warehouse. The instance has a
database of its own, its pool limit set explicitly: raising `pools.default_limit` in dagster.yaml
on an instance whose pool row exists crashes runs on PostgreSQL (dagster#33552), and two runs
creating the row at once race the same way. To make their writes
overlap every time rather than by luck, the test holds a `SHARE` lock on the dataset's table:
it blocks each writer's `DELETE` (after its MongoDB write, inside its lease) while leaving the
schema check, the lease table and reads alone. The lock is let go once the second writer has
reached its write: waiting for the lease (its log says so) or, were there no lease, blocked on
the table too.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from criptopipe.datasets import ASSET_HISTORY, MARKET_SNAPSHOTS, RAW_ASSETS, Dataset, all_datasets
from criptopipe.storage import leases
from criptopipe.storage.mongo import MongoStore
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import Slice
from criptopipe_tests.e2e.conftest import ROOT, Project, with_database
from criptopipe_tests.e2e.dagster_ui import instance_env

COINS = ["bitcoin", "ethereum", "solana"]
AUTH = {"Authorization": "Bearer test"}


@pytest.fixture(scope="module")
def two_slots(servers: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Dagster instance database of its own whose `coincap` pool has two slots."""
    name = f"dagster_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(servers["postgres"], autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dagster = with_database(servers.get("postgres_dagster", servers["postgres"]), name)
    env = instance_env(
        {**servers, "postgres_dagster": dagster},
        tmp_path_factory.mktemp("dagster_two_slots"),
        ROOT / "dagster.yaml",
    )
    subprocess.run(
        [sys.executable, "-m", "dagster", "instance", "concurrency", "set", "coincap", "2"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        timeout=300,
    )
    yield name
    with psycopg.connect(servers["postgres"], autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def project(project: Project, two_slots: str) -> Project:
    """The project's environment (conftest), on the two-slot instance."""
    project.env["DAGSTER_PG_DB"] = two_slots
    return project


class Blocker:
    """`LOCK TABLE ... IN SHARE MODE` on some dataset tables, each let go on its own."""

    def __init__(self, project: Project, names: list[str]) -> None:
        self.project = project
        self.held: dict[str, psycopg.Connection[Any]] = {}
        for name in names:
            conn = psycopg.connect(project.pg_url)
            conn.execute(
                sql.SQL("LOCK TABLE {} IN SHARE MODE").format(sql.Identifier(project.schema, name))
            )
            self.held[name] = conn

    def writers_blocked(self, name: str) -> int:
        """Backends waiting for this table's lock (a writer's DELETE: readers do not wait)."""
        with psycopg.connect(self.project.pg_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'relation' "
                "AND relation = %s::regclass",
                (f'"{self.project.schema}"."{name}"',),
            ).fetchone()
        return int(row[0]) if row else 0

    def release(self, name: str) -> None:
        conn = self.held.pop(name)
        conn.commit()
        conn.close()

    def release_all(self) -> None:
        for name in list(self.held):
            self.release(name)


def _wait(
    condition: Callable[[], bool], runs: list[subprocess.Popen[str]], logs: list[Path], what: str
) -> None:
    deadline = time.monotonic() + 180
    problem = f"timed out waiting until {what}"
    while time.monotonic() < deadline:
        if condition():
            return
        if any(r.poll() is not None for r in runs):
            problem = f"a run ended before {what}"
            break
        time.sleep(0.2)
    tails = "\n".join(log.read_text()[-3000:] for log in logs)
    raise AssertionError(f"{problem}\n{tails}")


def _waits_for_lease(logs: list[Path], name: str) -> bool:
    pattern = re.compile(rf"{name} \S+ \(.*\) overlaps the slice of run .*: waiting for it")
    return any(pattern.search(log.read_text()) for log in logs)


@contextmanager
def _two_runs(
    project: Project, tmp_path: Path, *argv: list[str]
) -> Iterator[tuple[list[subprocess.Popen[str]], list[Path]]]:
    logs = [tmp_path / f"run{i}.log" for i in range(len(argv))]
    runs = [project.start(*a, log=log) for a, log in zip(argv, logs, strict=True)]
    try:
        yield runs, logs
        for run, log in zip(runs, logs, strict=True):
            assert run.wait(300) == 0, log.read_text()[-6000:]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()


def _take_turns(project: Project, tmp_path: Path, names: list[str], argv: list[str]) -> list[Path]:
    """Two identical runs; each dataset's table is let go once both writers have reached it
    (in whichever order the runs write the datasets)."""
    with _two_runs(project, tmp_path, argv, argv) as (runs, logs):
        blocker = Blocker(project, names)
        try:

            def reached() -> bool:
                for name in list(blocker.held):
                    if _waits_for_lease(logs, name) or blocker.writers_blocked(name) >= 2:
                        blocker.release(name)
                return not blocker.held

            _wait(reached, runs, logs, f"both writers reached {', '.join(names)}")
        finally:
            blocker.release_all()
    return logs


def _served(project: Project, path: str, **params: Any) -> Any:
    url = f"{project.sandbox.base_url}{path}"
    return httpx.get(url, params=params, headers=AUTH, timeout=30).json()["data"]


def _ms(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp() * 1000)


def _mongo_records(project: Project, ds: Dataset, slc: Slice) -> list[tuple[str, Any]]:
    docs = MongoStore(project.mongo_uri).read_slice(ds, slc)
    return sorted((d["_id"], d["record"]) for d in docs)


def test_overlapping_history_writers_take_turns_and_lose_nothing(
    project: Project, tmp_path: Path
) -> None:
    first, last = date(2024, 1, 1), date(2024, 1, 31)
    slc = Slice.days(first, last)
    PostgresStore(project.pg_url, schema=project.schema).ensure_schema(all_datasets())
    logs = _take_turns(
        project,
        tmp_path,
        ["asset_history"],
        ["asset_history", "--partition-range", f"{first}...{last}"],
    )
    assert sum(_waits_for_lease([log], "asset_history") for log in logs) == 1

    # both stores hold exactly what a single clean run writes: every point CoinCap serves
    served = {
        f"{coin}|{datetime.fromtimestamp(p['time'] / 1000, tz=timezone.utc).date()}": p
        for coin in COINS
        for p in _served(
            project,
            f"/assets/{coin}/history",
            interval="d1",
            start=_ms(first),
            end=_ms(last + timedelta(days=1)),
        )
    }
    assert _mongo_records(project, ASSET_HISTORY, slc) == sorted(served.items())
    pg = PostgresStore(project.pg_url, schema=project.schema)
    rows = pg.read_slice(ASSET_HISTORY, slc)
    assert {f"{r.coin_id}|{r.day}": str(r.price_usd) for r in rows.itertuples()} == {
        k: p["priceUsd"] for k, p in served.items()
    }
    assert leases.list_leases(pg) == []


def test_overlapping_snapshot_writers_take_turns_and_lose_nothing(
    project: Project, tmp_path: Path
) -> None:
    day = datetime.now(timezone.utc).date() - timedelta(days=1)
    slc = Slice.days(day, day)
    PostgresStore(project.pg_url, schema=project.schema).ensure_schema(all_datasets())
    logs = _take_turns(
        project,
        tmp_path,
        ["raw_assets", "market_snapshots"],
        ["raw_assets,market_snapshots", "--partition", str(day)],
    )
    for name in ("raw_assets", "market_snapshots"):
        assert sum(_waits_for_lease([log], name) for log in logs) == 1, name

    # the archive holds each record CoinCap serves today, once: nothing swept by the other run
    assets = _served(project, "/assets", ids=",".join(COINS))
    assert _mongo_records(project, RAW_ASSETS, slc) == sorted(
        (f"{a['id']}|{day}", a) for a in assets
    )
    markets = {
        f"{coin}|{day}|{m['exchangeId']}|{m['baseId']}|{m['quoteId']}": m
        for coin in COINS
        for m in _served(project, f"/assets/{coin}/markets", limit=25)
    }
    assert _mongo_records(project, MARKET_SNAPSHOTS, slc) == sorted(markets.items())
    pg = PostgresStore(project.pg_url, schema=project.schema)
    mongo = MongoStore(project.mongo_uri)
    for ds in (RAW_ASSETS, MARKET_SNAPSHOTS):
        assert pg.keys(ds, slc) == mongo.keys(ds, slc), ds.name
    assert leases.list_leases(pg) == []


def test_disjoint_slices_are_written_at_the_same_time(project: Project, tmp_path: Path) -> None:
    pg = PostgresStore(project.pg_url, schema=project.schema)
    pg.ensure_schema(all_datasets())
    january = ["asset_history", "--partition-range", "2024-01-01...2024-01-10"]
    march = ["asset_history", "--partition-range", "2024-03-01...2024-03-10"]
    with _two_runs(project, tmp_path, january, march) as (runs, logs):
        blocker = Blocker(project, ["asset_history"])
        try:
            # both writers inside their write at once, each under its own lease: neither waits
            _wait(
                lambda: (
                    len(leases.list_leases(pg, "asset_history")) == 2
                    and blocker.writers_blocked("asset_history") == 2
                ),
                runs,
                logs,
                "both writers hold a lease and write",
            )
            held = leases.list_leases(pg, "asset_history")
        finally:
            blocker.release_all()
    assert sorted(h.slice.describe() for h in held) == [
        "2024-01-01..2024-01-10 (bitcoin, ethereum, solana)",
        "2024-03-01..2024-03-10 (bitcoin, ethereum, solana)",
    ]
    assert len({h.pid for h in held}) == 2
    assert pg.count(ASSET_HISTORY, Slice.days(date(2024, 1, 1), date(2024, 3, 31))) == 3 * 20
