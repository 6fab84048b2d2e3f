"""Write leases against a real PostgreSQL: which slices overlap, how a waiter waits, and that a
lease whose process died blocks nobody."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date, timedelta

import pytest

from criptopipe.datasets import all_datasets
from criptopipe.storage import leases
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import Slice

JAN1 = date(2024, 1, 1)


def days(first: int, last: int, coins: set[str] | None = None) -> Slice:
    """Days `first`..`last` of January 2024, both included."""
    return Slice.days(JAN1 + timedelta(days=first - 1), JAN1 + timedelta(days=last - 1), coins)


@pytest.fixture
def store(pg_url: str, pg_schema: str) -> PostgresStore:
    pg = PostgresStore(pg_url, schema=pg_schema)
    pg.ensure_schema(all_datasets())
    return pg


@pytest.mark.parametrize(
    ("held", "wanted", "overlaps"),
    [
        (days(1, 10), days(5, 6), True),
        (days(1, 10), days(10, 12, {"bitcoin"}), True),  # the last day is the 10th
        (days(1, 10), days(11, 12), False),  # adjacent windows
        (days(1, 10, {"bitcoin", "ethereum"}), days(1, 10, {"ethereum", "solana"}), True),
        (days(1, 10, {"bitcoin"}), days(1, 10, {"ethereum"}), False),  # disjoint coins
        (days(1, 10, {"bitcoin"}), days(3, 3), True),  # every coin includes bitcoin
        (days(3, 3), days(1, 10, {"bitcoin"}), True),
    ],
)
def test_which_slices_overlap(
    store: PostgresStore, held: Slice, wanted: Slice, overlaps: bool
) -> None:
    with leases.acquire(store, "asset_history", held, "run first", timeout_s=0):
        if overlaps:
            with pytest.raises(leases.LeaseTimeoutError, match="still held by run first"):
                leases.acquire(store, "asset_history", wanted, "run second", timeout_s=0)
        else:
            leases.acquire(store, "asset_history", wanted, "run second", timeout_s=0).release()
        # another dataset never waits, whatever its slice
        leases.acquire(store, "raw_assets", wanted, "run third", timeout_s=0).release()
    assert leases.list_leases(store) == []


def test_a_waiter_says_whom_it_waits_for_sleeps_and_goes_when_released(
    store: PostgresStore,
) -> None:
    first = leases.acquire(store, "asset_history", days(1, 31), "run aaaa", timeout_s=0)
    said: list[str] = []
    taken: list[leases.Lease] = []

    def second() -> None:
        taken.append(
            leases.acquire(
                store,
                "asset_history",
                days(15, 15, {"ethereum"}),
                "run bbbb",
                timeout_s=30,
                progress=said.append,
            )
        )

    cpu = time.process_time()
    waiter = threading.Thread(target=second)
    waiter.start()
    time.sleep(3)  # over one re-check period: the waiter says so once, and sleeps
    assert len(said) == 1, said
    assert "run aaaa" in said[0] and f"pid {os.getpid()}" in said[0]
    assert "2024-01-01..2024-01-31 (all coins)" in said[0] and "since" in said[0]
    assert time.process_time() - cpu < 1.0  # waiting burns no CPU
    released = time.monotonic()
    first.release()
    waiter.join(10)
    assert taken and time.monotonic() - released < 1.5  # woken by the release, not a poll
    assert [h.owner for h in leases.list_leases(store)] == ["run bbbb"]
    taken[0].release()


def test_a_timeout_fails_clearly_naming_the_holder(store: PostgresStore) -> None:
    with leases.acquire(store, "market_snapshots", days(2, 2), "run 1234", timeout_s=0):
        started = time.monotonic()
        with pytest.raises(leases.LeaseTimeoutError) as failure:
            leases.acquire(store, "market_snapshots", days(2, 2), "run 5678", timeout_s=1)
    assert 1 <= time.monotonic() - started < 3
    message = str(failure.value)
    assert message.startswith("gave up after 1s waiting for the write lease on market_snapshots")
    assert "run 1234" in message and "write_wait_seconds" in message and "\n" not in message


HOLDER = """
import sys, time
from datetime import date
from criptopipe.storage import leases
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import Slice

store = PostgresStore(sys.argv[1], schema=sys.argv[2])
lease = leases.acquire(store, "asset_history", Slice(date(2024, 1, 1), date(2024, 2, 1)),
                       "run crashed", timeout_s=0)
print("held", flush=True)
time.sleep(120)
"""


def test_a_lease_whose_process_was_killed_blocks_nobody(
    store: PostgresStore, pg_url: str, pg_schema: str
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, pg_url, pg_schema], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        # alive, in another process: it blocks
        with pytest.raises(leases.LeaseTimeoutError, match="run crashed"):
            leases.acquire(store, "asset_history", days(9, 9), "run next", timeout_s=0)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        said: list[str] = []
        started = time.monotonic()
        with leases.acquire(
            store, "asset_history", days(9, 9), "run next", timeout_s=20, progress=said.append
        ):
            assert time.monotonic() - started < 5
            assert [h.owner for h in leases.list_leases(store)] == ["run next"]
        assert any("removed the write lease of run crashed" in s for s in said), said
    finally:
        if holder.poll() is None:
            holder.kill()
