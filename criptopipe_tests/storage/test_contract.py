"""The storage contract on real servers: a rerun replaces, never duplicates; neighbours are
untouched; out-of-slice rows are refused; both stores hold the same keys; a SIGKILLed writer
leaves the previous slice; a non-UTC server shifts nothing; failures name host and port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date, datetime, timezone
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from criptopipe.datasets import ASSET_HISTORY, all_datasets
from criptopipe.local.ports import free_port
from criptopipe.storage.errors import StorageAuthError, StorageUnavailableError
from criptopipe.storage.mongo import MongoStore
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import OutOfSliceError, Slice
from criptopipe_tests.factories import history_frame

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
T1 = datetime(2025, 2, 1, 12, 0, tzinfo=timezone.utc)
JAN = date(2024, 1, 1)


@pytest.fixture
def stores(pg_url: str, pg_schema: str, mongo_url: str, mongo_db: str):  # type: ignore[no-untyped-def]
    pg, mongo = PostgresStore(pg_url, schema=pg_schema), MongoStore(mongo_url, database=mongo_db)
    pg.ensure_schema(all_datasets())
    mongo.ensure_indexes(all_datasets())
    yield pg, mongo
    mongo.close()


def write_both(pg: PostgresStore, mongo: MongoStore, slc: Slice, frame) -> None:  # type: ignore[no-untyped-def]
    mongo.replace_slice(ASSET_HISTORY, slc, frame)
    pg.replace_slice(ASSET_HISTORY, slc, frame)


def test_same_slice_three_times_is_identical(stores) -> None:  # type: ignore[no-untyped-def]
    pg, mongo = stores
    slc = Slice.days(JAN, date(2024, 1, 10))
    frame = history_frame(["bitcoin", "ethereum"], JAN, 10, T0)
    snapshots = []
    for _ in range(3):
        write_both(pg, mongo, slc, frame)
        docs = mongo.read_slice(ASSET_HISTORY, slc)
        snapshots.append(
            (pg.read_slice(ASSET_HISTORY, slc), [(d["_id"], d["record"]) for d in docs])
        )
    assert len(snapshots[0][0]) == 20 and len(snapshots[0][1]) == 20
    for rows, docs in snapshots[1:]:
        assert rows.equals(snapshots[0][0]) and docs == snapshots[0][1]
    assert snapshots[0][0]["price_usd"].iloc[0] == Decimal("1000.000000000000000000")
    assert pg.keys(ASSET_HISTORY, slc) == mongo.keys(ASSET_HISTORY, slc)


def test_neighbouring_days_and_other_coins_are_untouched(stores) -> None:  # type: ignore[no-untyped-def]
    pg, mongo = stores
    everything = Slice.days(JAN, date(2024, 1, 5))
    write_both(pg, mongo, everything, history_frame(["bitcoin", "ethereum"], JAN, 5, T0))
    before = pg.read_slice(ASSET_HISTORY, everything)

    day3 = Slice.days(date(2024, 1, 3), date(2024, 1, 3), coins=["bitcoin"])
    new = history_frame(["bitcoin"], date(2024, 1, 3), 1, T1, salt=5)
    write_both(pg, mongo, day3, new)

    after = pg.read_slice(ASSET_HISTORY, everything)
    changed = (after["coin_id"] == "bitcoin") & (after["day"] == date(2024, 1, 3))
    assert (
        after[~changed]
        .reset_index(drop=True)
        .equals(
            before[
                ~((before["coin_id"] == "bitcoin") & (before["day"] == date(2024, 1, 3)))
            ].reset_index(drop=True)
        )
    )
    assert after.loc[changed, "price_usd"].item() == Decimal("1005")
    assert after.loc[changed, "fetched_at"].item() == T1
    assert (after.loc[~changed, "fetched_at"] == T0).all()
    assert len(after) == 10
    assert pg.keys(ASSET_HISTORY, everything) == mongo.keys(ASSET_HISTORY, everything)
    docs = {d["_id"]: d for d in mongo.read_slice(ASSET_HISTORY, everything)}
    assert docs["bitcoin|2024-01-03"]["fetched_at"] == T1
    assert docs["ethereum|2024-01-03"]["fetched_at"] == T0


def test_a_shorter_rerun_removes_rows_that_disappeared(stores) -> None:  # type: ignore[no-untyped-def]
    pg, mongo = stores
    slc = Slice.days(JAN, date(2024, 1, 3))
    write_both(pg, mongo, slc, history_frame(["bitcoin", "ethereum"], JAN, 3, T0))
    write_both(pg, mongo, slc, history_frame(["bitcoin"], JAN, 3, T1))
    assert {k[0] for k in pg.keys(ASSET_HISTORY, slc)} == {"bitcoin"}
    assert pg.keys(ASSET_HISTORY, slc) == mongo.keys(ASSET_HISTORY, slc)


def test_rows_outside_the_slice_are_refused_by_both(stores) -> None:  # type: ignore[no-untyped-def]
    pg, mongo = stores
    frame = history_frame(["bitcoin", "ethereum"], JAN, 3, T0)
    narrow = Slice.days(JAN, date(2024, 1, 2))
    only_btc = Slice.days(JAN, date(2024, 1, 3), coins=["bitcoin"])
    for store in (pg, mongo):
        for slc in (narrow, only_btc):
            with pytest.raises(OutOfSliceError, match="outside the slice"):
                store.replace_slice(ASSET_HISTORY, slc, frame)
    assert pg.keys(ASSET_HISTORY, Slice.days(JAN, date(2024, 1, 3))) == set()
    assert mongo.keys(ASSET_HISTORY, Slice.days(JAN, date(2024, 1, 3))) == set()


def test_a_non_utc_server_shifts_no_row(pg_url: str) -> None:
    name = f"tz_{os.getpid()}_{time.monotonic_ns() % 10**6}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        conn.execute(f"ALTER DATABASE \"{name}\" SET timezone TO 'America/Sao_Paulo'")
    url = urlunsplit(urlsplit(pg_url)._replace(path=f"/{name}"))
    try:
        store = PostgresStore(url, schema="coincap")
        store.ensure_schema(all_datasets())
        slc = Slice.days(JAN, date(2024, 1, 2))
        frame = history_frame(["bitcoin"], JAN, 2, T0)
        store.replace_slice(ASSET_HISTORY, slc, frame)
        back = store.read_slice(ASSET_HISTORY, slc)
        assert list(back["day"]) == [JAN, date(2024, 1, 2)]
        assert list(back["time"]) == list(frame["time"])
        with psycopg.connect(url) as raw:  # a client in the server's own zone agrees
            zone = raw.execute("SHOW timezone").fetchone()
            assert zone is not None and zone[0] == "America/Sao_Paulo"
            rows = raw.execute(
                "SELECT day, time FROM coincap.asset_history ORDER BY day"
            ).fetchall()
        assert [r[0] for r in rows] == [JAN, date(2024, 1, 2)]
        assert [r[1].astimezone(timezone.utc) for r in rows] == list(frame["time"])
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_unreachable_servers_fail_fast_naming_host_and_port() -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError) as err:
        PostgresStore(
            f"postgresql://me:hunter2@127.0.0.1:{port}/db", connect_timeout=2
        ).ensure_schema(all_datasets())
    assert f"127.0.0.1:{port}" in str(err.value) and "hunter2" not in str(err.value)
    with pytest.raises(StorageUnavailableError) as err:
        MongoStore(f"mongodb://me:hunter2@127.0.0.1:{port}/db", timeout_ms=1000).ensure_indexes(
            all_datasets()
        )
    assert f"127.0.0.1:{port}" in str(err.value) and "hunter2" not in str(err.value)
    assert time.monotonic() - started < 30


def test_a_wrong_password_says_so(pg_url: str) -> None:
    parts = urlsplit(pg_url)
    wrong = urlunsplit(
        parts._replace(netloc=f"{parts.username}:not-the-password@{parts.hostname}:{parts.port}")
    )
    with pytest.raises(StorageAuthError) as err:
        PostgresStore(wrong).ensure_schema(all_datasets())
    assert "wrong user or password" in str(err.value)
    assert "not-the-password" not in str(err.value)


WRITER = textwrap.dedent(
    """
    import sys
    from datetime import date, datetime, timezone
    from criptopipe.datasets import ASSET_HISTORY
    from criptopipe.storage.mongo import MongoStore
    from criptopipe.storage.postgres import PostgresStore
    from criptopipe.storage.slices import Slice
    from criptopipe_tests.factories import history_frame
    pg_url, schema, mongo_url, db, coins, days = sys.argv[1:7]
    coins, days = [f"c{i:03d}" for i in range(int(coins))], int(days)
    first = date(2024, 1, 1)
    frame = history_frame(coins, first, days, datetime(2025, 2, 1, 12, tzinfo=timezone.utc), salt=1)
    slc = Slice(first, date.fromordinal(first.toordinal() + days))
    print("ready", flush=True)
    MongoStore(mongo_url, database=db).replace_slice(ASSET_HISTORY, slc, frame)
    PostgresStore(pg_url, schema=schema).replace_slice(ASSET_HISTORY, slc, frame)
    print("done", flush=True)
    """
)


def _spawn_writer(pg_url: str, schema: str, mongo_url: str, db: str, coins: int, days: int):  # type: ignore[no-untyped-def]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, pg_url, schema, mongo_url, db, str(coins), str(days)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
    )


def _wait_for(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("the writer never reached the point to kill it at")


@pytest.mark.parametrize("kill_during", ["mongo", "postgres"])
def test_sigkill_mid_write_keeps_the_previous_slice_and_a_rerun_converges(  # type: ignore[no-untyped-def]
    stores, pg_url: str, pg_schema: str, mongo_url: str, mongo_db: str, kill_during: str
) -> None:
    pg, mongo = stores
    coins, days = 80, 366
    slc = Slice(JAN, date(2025, 1, 1))
    old = history_frame([f"c{i:03d}" for i in range(coins)], JAN, days, T0)
    write_both(pg, mongo, slc, old)
    old_rows = pg.read_slice(ASSET_HISTORY, slc)
    old_keys = pg.keys(ASSET_HISTORY, slc)

    proc = _spawn_writer(pg_url, pg_schema, mongo_url, mongo_db, coins, days)
    coll = mongo.collection(ASSET_HISTORY)
    if kill_during == "mongo":
        _wait_for(lambda: coll.count_documents({"fetched_at": T1}, limit=1) > 0)
    else:

        def copying() -> bool:
            with psycopg.connect(pg_url, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%%' AND state = 'active'"
                ).fetchone()
            return bool(row and row[0])

        _wait_for(copying)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    # PostgreSQL: exactly the previous slice, never half
    assert pg.read_slice(ASSET_HISTORY, slc).equals(old_rows)
    # MongoDB: no duplicate, no key lost (old or new document for each)
    docs = mongo.read_slice(ASSET_HISTORY, slc)
    ids = [d["_id"] for d in docs]
    assert len(ids) == len(set(ids))
    assert mongo.keys(ASSET_HISTORY, slc) == old_keys

    # a rerun converges both stores to the new slice
    proc = _spawn_writer(pg_url, pg_schema, mongo_url, mongo_db, coins, days)
    assert proc.wait(timeout=300) == 0
    rows = pg.read_slice(ASSET_HISTORY, slc)
    assert (rows["fetched_at"] == T1).all() and len(rows) == coins * days
    assert pg.keys(ASSET_HISTORY, slc) == mongo.keys(ASSET_HISTORY, slc)
    assert coll.count_documents({"fetched_at": {"$ne": T1}}) == 0
