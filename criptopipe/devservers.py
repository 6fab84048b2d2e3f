"""Embedded local servers: a real PostgreSQL cluster and the MongoDB wire server.

Used by `make run` / `make dev` / `make stop` when `DATABASE_URL` / `MONGODB_URI` are unset, and
by the test suite, which starts its own throwaway pair on free ports. Nothing here knows Dagster.

PostgreSQL comes from the OS (Debian's `postgresql` package, or any `pg_config` on PATH, or
`CRIPTOPIPE_PG_BIN`). It refuses to run as root, so as root the cluster runs as the `postgres`
user created by that package; the data folder is handed to that user and nothing outside it is
changed. MongoDB is `nx-27017`, a wire-protocol server from PyPI (no genuine `mongod` can be
installed without a download); production points `MONGODB_URI` at a real MongoDB.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

PG_USER = "postgres"
PG_PASSWORD = "criptopipe"  # local throwaway cluster only; host logins need it (scram)
WAREHOUSE_DB = "criptopipe"
DAGSTER_DB = "dagster"
#: the dashboard's login: SELECT on the data schema's tables (present and future), nothing else
READER_ROLE = "criptopipe_reader"
READER_PASSWORD = "criptopipe-reader"  # local throwaway cluster only, like PG_PASSWORD
DEFAULT_SCHEMA = "coincap"


class DevServerError(RuntimeError):
    """A local server could not be started; the message says what to install or fix."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _wait_for_port(port: int, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.05)
    tail = ""
    if log is not None and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    raise DevServerError(f"{what} did not open 127.0.0.1:{port} within {timeout:.0f}s{tail}")


# --------------------------------------------------------------------------- PostgreSQL


def find_pg_bin() -> Path:
    """The folder holding `initdb`, `pg_ctl` and `postgres`."""
    candidates: list[Path] = []
    if env := os.environ.get("CRIPTOPIPE_PG_BIN"):
        candidates.append(Path(env))
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(debian)
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            )
            candidates.append(Path(out.stdout.strip()))
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    raise DevServerError(
        "No PostgreSQL server binaries found (looked for initdb/pg_ctl in CRIPTOPIPE_PG_BIN, "
        "/usr/lib/postgresql/*/bin and `pg_config --bindir`). Install them with "
        "`sudo apt-get install -y postgresql` (Debian/Ubuntu) or `brew install postgresql`, "
        "or set DATABASE_URL to an existing server."
    )


def _as_pg_user() -> tuple[list[str], int | None, int | None]:
    """Command prefix plus uid/gid to run PostgreSQL tools: as root, the `postgres` user."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        pw = pwd.getpwnam(PG_USER)
    except KeyError as exc:
        raise DevServerError(
            "PostgreSQL refuses to run as root and there is no `postgres` user to run it as. "
            "Install the OS package (`apt-get install -y postgresql`, which creates it), run as a "
            "normal user, or set DATABASE_URL."
        ) from exc
    return ["runuser", "-u", PG_USER, "--"], pw.pw_uid, pw.pw_gid


def _check_traversable(path: Path, uid: int) -> None:
    for parent in [path, *path.parents]:
        if not parent.exists():
            continue
        st = parent.stat()
        if st.st_uid == uid:
            continue
        if not st.st_mode & 0o001:
            raise DevServerError(
                f"PostgreSQL runs as `{PG_USER}`, which cannot enter {parent} (mode "
                f"{oct(st.st_mode & 0o777)}). Put the project in a folder others can traverse, "
                "or set DATABASE_URL to an existing server."
            )


@dataclass
class PostgresServer:
    data_dir: Path
    port: int
    bin_dir: Path

    @property
    def dsn_base(self) -> str:
        return f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{self.port}"

    def url(self, database: str = WAREHOUSE_DB) -> str:
        return f"{self.dsn_base}/{database}"

    def reader_url(self, database: str = WAREHOUSE_DB) -> str:
        return f"postgresql://{READER_ROLE}:{READER_PASSWORD}@127.0.0.1:{self.port}/{database}"

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "postgres.log"

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix, _, _ = _as_pg_user()
        return subprocess.run(
            [*prefix, *args], capture_output=True, text=True, check=check, cwd="/"
        )

    def init(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        prefix, uid, gid = _as_pg_user()
        pwfile = self.data_dir / ".pwfile"
        pwfile.write_text(PG_PASSWORD + "\n")
        if uid is not None and gid is not None:
            _check_traversable(self.data_dir, uid)
            os.chown(self.data_dir, uid, gid)
            os.chown(pwfile, uid, gid)
        try:
            self._run(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    PG_USER,
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            )
        except subprocess.CalledProcessError as exc:
            raise DevServerError(f"initdb failed: {exc.stderr.strip()[-2000:]}") from exc
        finally:
            pwfile.unlink(missing_ok=True)

    def running(self) -> bool:
        if not (self.pgdata / "postmaster.pid").exists():
            return False
        res = self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.pgdata), "status"], False)
        return res.returncode == 0

    def start(self, timeout: float = 60.0) -> None:
        self.init()
        if self.running():
            return
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200 -c TimeZone=UTC"
        )
        res = self._run(
            [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(int(timeout)),
                "-o",
                opts,
                "start",
            ],
            check=False,
        )
        if res.returncode != 0:
            tail = ""
            with contextlib.suppress(OSError):
                tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-15:])
            raise DevServerError(
                f"PostgreSQL did not start on 127.0.0.1:{self.port}: {res.stderr.strip()}\n{tail}"
            )
        self.create_databases()

    def create_databases(self, names: tuple[str, ...] = (WAREHOUSE_DB, DAGSTER_DB)) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=10) as conn:
            existing = {r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()}
            for name in names:
                if name not in existing:
                    conn.execute(f'CREATE DATABASE "{name}"')

    def ensure_reader(self, schema: str = DEFAULT_SCHEMA) -> None:
        """The read-only role the dashboard logs in as (idempotent: every `make` command runs
        it). The server refuses it any write, whatever its transactions say: USAGE on the data
        schema and SELECT on its tables, including the ones the pipeline creates later (default
        privileges of the writer, `postgres` here); no CREATE anywhere, no temporary tables."""
        import psycopg
        from psycopg import sql

        role, data = sql.Identifier(READER_ROLE), sql.Identifier(schema)
        with (
            psycopg.connect(self.url(WAREHOUSE_DB), autocommit=True, connect_timeout=10) as conn,
            conn.transaction(),
        ):
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('criptopipe.reader_role'))")
            if not conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (READER_ROLE,)
            ).fetchone():
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
            for statement in (
                "ALTER ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {password}",
                "ALTER ROLE {role} SET default_transaction_read_only = on",
                "REVOKE TEMPORARY ON DATABASE {db} FROM PUBLIC",
                "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
                "CREATE SCHEMA IF NOT EXISTS {data}",
                "GRANT USAGE ON SCHEMA {data} TO {role}",
                "GRANT SELECT ON ALL TABLES IN SCHEMA {data} TO {role}",
                "ALTER DEFAULT PRIVILEGES FOR ROLE {writer} IN SCHEMA {data} "
                "GRANT SELECT ON TABLES TO {role}",
            ):
                conn.execute(
                    sql.SQL(statement).format(
                        role=role,
                        password=sql.Literal(READER_PASSWORD),
                        db=sql.Identifier(WAREHOUSE_DB),
                        data=data,
                        writer=sql.Identifier(PG_USER),
                    )
                )

    def stop(self) -> None:
        if not self.pgdata.exists():
            return
        self._run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
            check=False,
        )


# --------------------------------------------------------------------------- MongoDB wire server


def find_nx() -> list[str]:
    exe = shutil.which("nx-27017") or str(Path(sys.executable).parent / "nx-27017")
    if not Path(exe).exists():
        raise DevServerError(
            "The MongoDB wire server `nx-27017` is not installed: `pip install nx-27017==0.8.1` "
            "(or `make setup`), or set MONGODB_URI to a real MongoDB."
        )
    return [exe]


@dataclass
class MongoServer:
    data_dir: Path | None  # None: in memory
    port: int
    pid: int | None = None

    def url(self, database: str = WAREHOUSE_DB) -> str:
        return f"mongodb://127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 30.0) -> None:
        if port_open(self.port):
            return
        data = "memory"
        log = Path(os.environ.get("TMPDIR", "/tmp")) / f"nx-27017-{self.port}.log"
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            data = str(self.data_dir)
            log = self.data_dir / "nx-27017.log"
        cmd = [
            *find_nx(),
            "--host",
            "127.0.0.1",
            "-p",
            str(self.port),
            "--data-dir",
            data,
            "--log-file",
            str(log),
            "--pid-file",
            str(log.with_suffix(".pid")),
        ]
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = proc.pid
        _wait_for_port(self.port, timeout, "The MongoDB wire server (nx-27017)", log)

    def stop(self) -> None:
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and port_open(self.port):
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.pid = None


# --------------------------------------------------------------------------- throwaway pair


@contextlib.contextmanager
def throwaway_servers(base: Path) -> Iterator[tuple[PostgresServer, MongoServer]]:
    """A fresh PostgreSQL cluster and an in-memory wire server on free ports (tests)."""
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


# --------------------------------------------------------------------------- project-local pair


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


def _pick_port(preferred: int) -> int:
    return preferred if not port_open(preferred) else free_port()


def up(root: Path, schema: str = DEFAULT_SCHEMA) -> dict[str, str]:
    """Start (or reuse) the project-local servers, with the dashboard's read-only role on
    `schema`; returns the environment that points at them."""
    root.mkdir(parents=True, exist_ok=True)
    state = _load_state(root)
    pg_dir, mongo_dir = root / "postgres", root / "mongo"
    pg = PostgresServer(pg_dir, state.pg_port if state else 0, find_pg_bin())
    if state is None or not pg.running():
        pg.port = state.pg_port if state and not port_open(state.pg_port) else _pick_port(55432)
    pg.start()
    pg.ensure_reader(schema)
    mongo = MongoServer(mongo_dir, state.mongo_port if state else _pick_port(57017))
    if state is not None and state.mongo_pid and _alive(state.mongo_pid) and port_open(mongo.port):
        mongo.pid = state.mongo_pid
    else:
        if port_open(mongo.port):
            mongo.port = free_port()
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
    """`python -m criptopipe.devservers up|down|env [--root DIR]`."""
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
