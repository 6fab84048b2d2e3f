"""The embedded PostgreSQL: a real cluster from the OS's binaries, for `make run/dev` and tests.

PostgreSQL comes from the OS (Debian's `postgresql` package, or any `pg_config` on PATH, or
`CRIPTOPIPE_PG_BIN`). It refuses to run as root, so as root the cluster runs as the `postgres`
user created by that package; the data folder is handed to that user and nothing outside it is
changed.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from criptopipe.config import DEFAULT_SCHEMA
from criptopipe.local.ports import DevServerError

PG_USER = "postgres"
PG_PASSWORD = "criptopipe"  # local throwaway cluster only; host logins need it (scram)
WAREHOUSE_DB = "criptopipe"
DAGSTER_DB = "dagster"
#: the dashboard's login: SELECT on the data schema's tables (present and future), nothing else
READER_ROLE = "criptopipe_reader"
READER_PASSWORD = "criptopipe-reader"  # local throwaway cluster only, like PG_PASSWORD


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
