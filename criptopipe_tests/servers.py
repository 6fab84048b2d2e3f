"""A throwaway PostgreSQL cluster and MongoDB wire server on free ports, for the test session."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from criptopipe.local.mongo import MongoServer
from criptopipe.local.ports import free_port
from criptopipe.local.postgres import PostgresServer, find_pg_bin


@contextlib.contextmanager
def throwaway_servers(base: Path) -> Iterator[tuple[PostgresServer, MongoServer]]:
    """A fresh PostgreSQL cluster and an in-memory wire server on free ports."""
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)  # our own temp folder: the `postgres` user must be able to enter it
    pg = PostgresServer(data_dir=base / "pg", port=free_port(), bin_dir=find_pg_bin())
    mongo = MongoServer(data_dir=None, port=free_port())
    try:
        pg.start()
        mongo.start()
        yield pg, mongo
    finally:
        mongo.stop()
        pg.stop()
        shutil.rmtree(base / "pg", ignore_errors=True)
