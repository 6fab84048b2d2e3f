"""The project-local servers of `make run` / `make dev` / `make stop`: start, reuse, stop.

Used when `DATABASE_URL` / `MONGODB_URI` are unset: an embedded PostgreSQL cluster
(`postgres.py`) and MongoDB wire server (`mongo.py`) whose data lives in `.criptopipe/`, on
preferred ports when free. Nothing here knows Dagster.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from criptopipe.local import settings as local
from criptopipe.local.mongo import MongoServer
from criptopipe.local.ports import DevServerError, claim, port_open
from criptopipe.local.postgres import (
    DAGSTER_DB,
    DEFAULT_SCHEMA,
    PG_PASSWORD,
    PG_USER,
    WAREHOUSE_DB,
    PostgresServer,
    find_pg_bin,
)

__all__ = ["DevServerError", "down", "environment", "up"]


@dataclass
class LocalState:
    pg_port: int
    mongo_port: int
    mongo_pid: int | None = None


def _state_file(root: Path) -> Path:
    return root / "servers.json"


def _load_state(root: Path) -> LocalState | None:
    with contextlib.suppress(OSError, ValueError, TypeError):
        return LocalState(**json.loads(_state_file(root).read_text()))
    return None


def _port(setting: local.PortSetting, ports: local.LocalSettings, command: str) -> int:
    """The setting's port (the default when unset; a taken default moves to a free port, the
    environment hands the address on), or a clear error when a chosen one is taken."""
    port, chosen = ports.port(setting)
    return claim(port, setting.variable, setting.what, chosen, fallback=True, command=command)


def up(
    root: Path,
    schema: str = DEFAULT_SCHEMA,
    ports: local.LocalSettings | None = None,
    command: str = "make run",
) -> dict[str, str]:
    """Start (or reuse) the project-local servers, with the dashboard's read-only role on
    `schema`; returns the environment that points at them. A running server is reused unless
    its port variable now asks for another port: then it moves there."""
    root.mkdir(parents=True, exist_ok=True)
    ports = ports or local.local_settings()
    state = _load_state(root)
    pg_dir, mongo_dir = root / "postgres", root / "mongo"
    pg = PostgresServer(pg_dir, state.pg_port if state else 0, find_pg_bin())
    pg_wanted, pg_chosen = ports.port(local.PG)
    if pg.running() and pg_chosen and pg.port != pg_wanted:
        pg.stop()
    if not pg.running():
        reuse = state is not None and not pg_chosen and not port_open(state.pg_port)
        pg.port = state.pg_port if reuse and state else _port(local.PG, ports, command)
    pg.start()
    pg.ensure_reader(schema)
    mongo_wanted, mongo_chosen = ports.port(local.MONGO)
    mongo = MongoServer(mongo_dir, state.mongo_port if state else mongo_wanted)
    alive = state is not None and bool(state.mongo_pid) and _alive(state.mongo_pid or 0)
    if alive and state and port_open(mongo.port):
        mongo.pid = state.mongo_pid
        if mongo_chosen and mongo.port != mongo_wanted:
            mongo.stop()
    if mongo.pid is None:
        mongo.port = _port(local.MONGO, ports, command)
        mongo.start()
    _state_file(root).write_text(json.dumps(asdict(LocalState(pg.port, mongo.port, mongo.pid))))
    return environment(pg, mongo)


def environment(pg: PostgresServer, mongo: MongoServer) -> dict[str, str]:
    return {
        "DATABASE_URL": pg.url(WAREHOUSE_DB),
        "MONGODB_URI": mongo.url(WAREHOUSE_DB),
        "DASHBOARD_DATABASE_URL": pg.reader_url(WAREHOUSE_DB),
        # nx-27017 has no users or roles (it accepts createUser and ignores it, and a client
        # with credentials cannot even log in): the dashboard reads the same server, and only
        # reads (tested); docker-compose's real MongoDB gives it a user with the `read` role
        "DASHBOARD_MONGODB_URI": mongo.url(WAREHOUSE_DB),
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(pg.port),
        "DAGSTER_PG_USER": PG_USER,
        "DAGSTER_PG_PASSWORD": PG_PASSWORD,
        "DAGSTER_PG_DB": DAGSTER_DB,
    }


def down(root: Path) -> list[str]:
    stopped: list[str] = []
    state = _load_state(root)
    pg_dir = root / "postgres"
    if (pg_dir / "data" / "postmaster.pid").exists():
        PostgresServer(pg_dir, state.pg_port if state else 0, find_pg_bin()).stop()
        stopped.append("postgres")
    if state is not None and state.mongo_pid and _alive(state.mongo_pid):
        MongoServer(root / "mongo", state.mongo_port, state.mongo_pid).stop()
        stopped.append("mongodb")
    _state_file(root).unlink(missing_ok=True)
    return stopped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str] | None = None) -> int:
    """`python -m criptopipe.local.servers up|down|env [--root DIR]`."""
    import argparse

    parser = argparse.ArgumentParser(prog="criptopipe-servers", description=main.__doc__)
    parser.add_argument("action", choices=["up", "down", "env"])
    parser.add_argument("--root", default=".criptopipe", type=Path)
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        if args.action == "down":
            stopped = down(root)
            print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
            return 0
        env = up(root)
    except DevServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.action == "env":
        for k, v in env.items():
            print(f"export {k}={v}")
    else:
        print(f"PostgreSQL: {env['DATABASE_URL']}  (data in {root / 'postgres'})")
        print(f"MongoDB:    {env['MONGODB_URI']}  (data in {root / 'mongo'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
