"""Write leases: writers of overlapping slices take turns, across processes and Dagster instances.

Why: a standalone MongoDB has no multi-document transaction, so a slice is replaced by
upserting the new documents and then sweeping the slice's documents of other batches. Two
writers of overlapping slices would each sweep the other's fresh documents (one such race left
9,623 of 54,623 documents), and two PostgreSQL DELETE + COPY of one slice collide on keys. So a
writer holds a lease on its slice from before its first MongoDB write until its last PostgreSQL
commit. Writers of slices that do not overlap never wait for each other.

How, all in the PostgreSQL that holds the data (so every process and every Dagster instance
writing this warehouse sees the same leases):

- `<schema>.write_leases` holds one row per lease: dataset, days `[first_day, end_day)`, coins
  (NULL: every coin), owner (a run id), host, pid and since when.
- Two slices of a dataset overlap when their days overlap and either names no coins or their
  coin sets intersect.
- Taking a lease is one short transaction under a transaction-level advisory lock per dataset:
  look for overlapping leases; if there are none, insert ours. In the same transaction the owner
  takes a session-level advisory lock keyed by the lease id, on a connection it keeps open for
  as long as it writes. A lease whose process died has lost that connection, hence the lock:
  `pg_try_advisory_xact_lock` succeeds on it, and the next comer removes it.
- A writer that finds an overlapping live lease logs once whom it waits for, then sleeps on
  LISTEN (woken when a lease is released; re-checking every few seconds for owners that died),
  until it takes its lease or its timeout runs out (`LeaseTimeoutError`).

No Dagster here: the IO manager (and `criptopipe replay`) call `acquire` with a log callback.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from criptopipe.storage.errors import StorageError, StorageUnavailableError
from criptopipe.storage.slices import Slice

if TYPE_CHECKING:
    from criptopipe.storage.postgres import PostgresStore

TABLE = "write_leases"
CHANNEL = "criptopipe_write_leases"
#: how often a waiter re-checks without a notification (an owner that died sends none)
RECHECK_SECONDS = 2.0

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


class LeaseTimeoutError(StorageError):
    """Another writer held an overlapping slice for longer than this writer would wait."""


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a lease, for log lines and errors."""

    id: int
    dataset: str
    slice: Slice
    owner: str
    host: str
    pid: int
    since: datetime

    def describe(self) -> str:
        return (
            f"{self.owner} (host {self.host}, pid {self.pid}), writing {self.dataset} "
            f"{self.slice.describe()} since {self.since:%Y-%m-%d %H:%M:%S} UTC"
        )


def _namespaces(schema: str) -> tuple[str, str]:
    """Advisory-lock namespaces (hashed in SQL): one for the per-dataset lock taken while
    leases are compared, one for the lease ids owners keep locked."""
    return f"criptopipe.write_leases.{schema}", f"criptopipe.write_lease_ids.{schema}"


class Lease:
    """A lease held on a dedicated connection: `with acquire(...) as lease: ... lease.check()`."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        store: PostgresStore,
        holder: Holder,
        waited: float,
        progress: Progress,
    ) -> None:
        self._conn, self._store, self.holder = conn, store, holder
        self.waited = waited
        self._progress = progress
        self._taken = time.monotonic()

    def check(self) -> None:
        """Fail before writing more if the connection holding the lease dropped: without it
        another writer may take an overlapping lease at any moment."""
        try:
            self._conn.execute("SELECT 1")
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise StorageUnavailableError(
                f"lost the write lease on {self.holder.dataset} {self.holder.slice.describe()}: "
                f"the PostgreSQL connection holding it dropped ({first}). Stopped before writing "
                "more; a retry converges."
            ) from exc

    def release(self) -> None:
        """Remove the lease and wake the writers waiting for it. If the connection is already
        gone, so is the lock: the row is dead and the next comer removes it."""
        if self._conn.closed:
            return
        schema = self._store.schema
        try:
            with self._conn.transaction():
                self._conn.execute(
                    sql.SQL("DELETE FROM {} WHERE id = %s").format(sql.Identifier(schema, TABLE)),
                    (self.holder.id,),
                )
                self._conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, self.holder.dataset))
            held = time.monotonic() - self._taken
            self._progress(
                f"write lease on {self.holder.dataset} {self.holder.slice.describe()} released "
                f"after {held:.1f}s"
            )
        except psycopg.Error as exc:
            self._progress(
                f"could not remove the write lease on {self.holder.dataset} "
                f"({type(exc).__name__}); it died with its connection and the next writer "
                "removes it"
            )
        finally:
            self._conn.close()

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def acquire(
    store: PostgresStore,
    dataset: str,
    slc: Slice,
    owner: str,
    *,
    timeout_s: float,
    progress: Progress = _quiet,
    recheck_s: float = RECHECK_SECONDS,
) -> Lease:
    """Take a lease on `dataset`'s `slc`, waiting up to `timeout_s` for overlapping leases of
    live writers to be released. The lease table must exist (`PostgresStore.ensure_schema`)."""
    conn = store.session()
    doing = f"taking the write lease on {dataset} {slc.describe()}"
    try:
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
        started = time.monotonic()
        told: frozenset[int] = frozenset()
        while True:
            taken, live, dead = _attempt(conn, store.schema, dataset, slc, owner)
            for gone in dead:
                progress(f"removed the write lease of {gone.describe()}: that process is gone")
            waited = time.monotonic() - started
            if taken is not None:
                progress(
                    f"write lease on {dataset} {slc.describe()} taken"
                    + (f" after waiting {waited:.1f}s" if told else "")
                )
                return Lease(conn, store, taken, waited, progress)
            ids = frozenset(h.id for h in live)
            if ids != told:
                progress(
                    f"{dataset} {slc.describe()} overlaps the slice of "
                    + "; ".join(h.describe() for h in live)
                    + f": waiting for it (up to {timeout_s:g}s)"
                )
                told = ids
            left = timeout_s - waited
            if left <= 0:
                raise LeaseTimeoutError(
                    f"gave up after {timeout_s:g}s waiting for the write lease on {dataset} "
                    f"{slc.describe()}: still held by "
                    + "; ".join(h.describe() for h in live)
                    + ". Rerun once that write has finished (or wait longer: the warehouse IO "
                    "manager's write_wait_seconds)."
                )
            # sleep until a lease is released, or re-check for owners that died meanwhile
            for _ in conn.notifies(timeout=min(recheck_s, left), stop_after=1):
                pass
    except psycopg.Error as exc:
        conn.close()
        raise store.classify(exc, conn, doing) from exc
    except BaseException:
        conn.close()
        raise


def _attempt(
    conn: psycopg.Connection[Any], schema: str, dataset: str, slc: Slice, owner: str
) -> tuple[Holder | None, list[Holder], list[Holder]]:
    """One short transaction: (our lease or None, live overlapping leases, dead ones removed)."""
    table = sql.Identifier(schema, TABLE)
    by_dataset, by_id = _namespaces(schema)
    coins = sorted(slc.coins) if slc.coins is not None else None
    live: list[Holder] = []
    dead: list[Holder] = []
    with conn.transaction():
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))", (by_dataset, dataset)
        )
        rows = conn.execute(
            sql.SQL(
                "SELECT id, first_day, end_day, coins, owner, host, pid, since FROM {} "
                "WHERE dataset = %s AND first_day < %s AND end_day > %s "
                "AND (coins IS NULL OR %s::text[] IS NULL OR coins && %s::text[]) ORDER BY id"
            ).format(table),
            (dataset, slc.end, slc.start, coins, coins),
        ).fetchall()
        for row in rows:
            holder = _holder(dataset, row)
            free = conn.execute(
                "SELECT pg_try_advisory_xact_lock(hashtext(%s), %s)", (by_id, holder.id)
            ).fetchone()
            if free and free[0]:  # nobody holds its lock: its owner's connection is gone
                conn.execute(sql.SQL("DELETE FROM {} WHERE id = %s").format(table), (holder.id,))
                dead.append(holder)
            else:
                live.append(holder)
        if live:
            return None, live, dead
        row = conn.execute(
            sql.SQL(
                "INSERT INTO {} (dataset, first_day, end_day, coins, owner, host, pid) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id, since"
            ).format(table),
            (dataset, slc.start, slc.end, coins, owner, socket.gethostname(), os.getpid()),
        ).fetchone()
        assert row is not None
        lease_id, since = int(row[0]), row[1]
        # session-level: outlives this transaction, dies with the connection
        conn.execute("SELECT pg_advisory_lock(hashtext(%s), %s)", (by_id, lease_id))
    return (
        Holder(lease_id, dataset, slc, owner, socket.gethostname(), os.getpid(), since),
        [],
        dead,
    )


def _holder(dataset: str, row: tuple[Any, ...]) -> Holder:
    lease_id, first, end, coins, owner, host, pid, since = row
    assert isinstance(first, date) and isinstance(end, date)
    return Holder(
        int(lease_id),
        dataset,
        Slice(first, end, frozenset(coins) if coins is not None else None),
        str(owner),
        str(host),
        int(pid),
        since,
    )


def list_leases(store: PostgresStore, dataset: str | None = None) -> list[Holder]:
    """Every lease row (of one dataset, or all), for operators and tests: `SELECT * FROM
    <schema>.write_leases` shows the same."""
    table = sql.Identifier(store.schema, TABLE)
    query = sql.SQL(
        "SELECT dataset, id, first_day, end_day, coins, owner, host, pid, since FROM {}"
    ).format(table)
    params: tuple[Any, ...] = ()
    if dataset is not None:
        query = sql.SQL("{} WHERE dataset = %s").format(query)
        params = (dataset,)
    with store.connect(read_only=True) as conn:
        rows = conn.execute(sql.SQL("{} ORDER BY id").format(query), params).fetchall()
    return [_holder(str(r[0]), tuple(r[1:])) for r in rows]
