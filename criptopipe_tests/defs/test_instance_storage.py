"""The event log keeps its connections (criptopipe.defs.instance_storage): a lost one is
replaced before a write, never failing it, and callers beyond them never wait."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import sqlalchemy as sa
import yaml
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
from dagster._core.events.log import EventLogEntry

from criptopipe.defs.instance_storage import PooledPostgresEventLogStorage

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def storage(servers: dict[str, str]) -> Iterator[PooledPostgresEventLogStorage]:
    url = servers["postgres_dagster"].replace("postgresql://", "postgresql+psycopg2://", 1)
    made = PooledPostgresEventLogStorage(url)
    try:
        yield made
    finally:
        made.dispose()


def _backend(storage: PooledPostgresEventLogStorage) -> int:
    with storage._connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _materialization(run_id: str, partition: str) -> EventLogEntry:
    materialization = dg.AssetMaterialization(
        asset_key="instance_storage_test", partition=partition
    )
    return EventLogEntry(
        error_info=None,
        level="debug",
        user_message="",
        run_id=run_id,
        timestamp=time.time(),
        dagster_event=DagsterEvent(
            DagsterEventType.ASSET_MATERIALIZATION.value,
            job_name="test_job",
            event_specific_data=StepMaterializationData(materialization),
        ),
    )


def test_the_writes_of_a_run_reuse_their_connections(
    storage: PooledPostgresEventLogStorage,
) -> None:
    opened: list[object] = []
    sa.event.listen(storage._engine, "connect", lambda conn, _record: opened.append(conn))
    storage.store_event(_materialization("pooled-run", "2024-01-01"))
    warm = len(opened)
    assert 1 <= warm <= 2
    for day in range(2, 32):
        storage.store_event(_materialization("pooled-run", f"2024-01-{day:02d}"))
    # Dagster's own storage connects two to four times per write: 60+ here
    assert len(opened) == warm
    records = storage.fetch_materializations(dg.AssetKey("instance_storage_test"), limit=50)
    assert len([r for r in records.records if r.run_id == "pooled-run"]) == 31


def test_a_connection_the_server_dropped_is_replaced_before_the_next_write(
    storage: PooledPostgresEventLogStorage, servers: dict[str, str]
) -> None:
    lost = _backend(storage)
    with psycopg.connect(servers["postgres_dagster"], autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (lost,))
    storage.store_event(_materialization("pooled-run-restart", "2024-02-01"))
    assert _backend(storage) != lost


def test_callers_beyond_the_kept_connections_get_their_own_and_never_wait(
    storage: PooledPostgresEventLogStorage,
) -> None:
    # eight at once, as the daemon's threads (each holding one and asking for a nested second):
    # a bounded pool would make the last ones wait for the others, possibly forever
    started = time.monotonic()
    with ExitStack() as held:
        conns = [held.enter_context(storage._connect()) for _ in range(8)]
        pids = {int(c.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()) for c in conns}
    assert len(pids) == 8
    assert time.monotonic() - started < 10
    storage.store_event(_materialization("pooled-run-many", "2024-03-01"))


def test_every_instance_configuration_uses_it() -> None:
    for name in ("dagster.yaml", "deploy/dagster.yaml", "deploy/docker-run-launcher.dagster.yaml"):
        config = yaml.safe_load((ROOT / name).read_text())
        event_log = config["event_log_storage"]
        assert (event_log["module"], event_log["class"]) == (
            "criptopipe.defs.instance_storage",
            "PooledPostgresEventLogStorage",
        ), name
        assert config["run_storage"]["config"] == event_log["config"], name
        assert config["schedule_storage"]["config"] == event_log["config"], name
