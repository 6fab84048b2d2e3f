"""The environment `make run`, `make dev` and `make dashboard` run in, set up on demand.

Whatever the user configured wins: `DATABASE_URL` / `MONGODB_URI` point at their servers,
`COINCAP_API_KEY` means real CoinCap. What is missing is started locally and kept in the
project's `.criptopipe/` folder: embedded PostgreSQL (with the dashboard's read-only role,
`DASHBOARD_DATABASE_URL`) and MongoDB wire servers, and the CoinCap sandbox (synthetic data)
when there is no key. `stop()` undoes all of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from criptopipe.config import DEFAULT_BASE_URL, DEFAULT_SCHEMA
from criptopipe.local import dotenv, servers
from criptopipe.local.ports import DevServerError, free_port, port_open

SANDBOX_PORT = 8555
SANDBOX_KEY = "sandbox"
SANDBOX_VARIABLES = ("COINCAP_BASE_URL", "COINCAP_API_KEY")


@dataclass
class LocalEnv:
    env: dict[str, str]
    sandbox: bool
    local_servers: bool

    @property
    def base_url(self) -> str:
        return self.env.get("COINCAP_BASE_URL", DEFAULT_BASE_URL)


def project_root() -> Path:
    """The folder holding dagster.yaml: the current one, or the package's checkout."""
    for candidate in (Path.cwd(), Path(__file__).resolve().parent.parent):
        if (candidate / "dagster.yaml").exists():
            return candidate
    return Path.cwd()


def state_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / ".criptopipe"


def _sandbox_state(root: Path) -> Path:
    return state_dir(root) / "sandbox.json"


def _sandbox_healthy(port: int) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"http://127.0.0.1:{port}/__admin/health", timeout=1).status_code == 200
    return False


def start_sandbox(root: Path, port: int = SANDBOX_PORT) -> str:
    """Start the CoinCap sandbox in the background (or reuse it); returns its base URL."""
    path = _sandbox_state(root)
    with contextlib.suppress(OSError, ValueError, KeyError):
        known = json.loads(path.read_text())
        if _sandbox_healthy(int(known["port"])):
            return f"http://127.0.0.1:{known['port']}/v3"
    if port_open(port):
        port = free_port()
    log = state_dir(root) / "sandbox.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "criptopipe.sources.coincap.sandbox",
            "--port",
            str(port),
            "--key",
            SANDBOX_KEY,
        ],
        stdin=subprocess.DEVNULL,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _sandbox_healthy(port):
            path.write_text(json.dumps({"port": port, "pid": proc.pid}))
            return f"http://127.0.0.1:{port}/v3"
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise DevServerError(f"the CoinCap sandbox did not start; see {log}")


def stop_sandbox(root: Path) -> bool:
    path = _sandbox_state(root)
    try:
        pid = int(json.loads(path.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    path.unlink(missing_ok=True)
    return True


def dagster_env(root: Path, database_url: str) -> dict[str, str]:
    """DAGSTER_HOME is the project (its dagster.yaml); instance storage is PostgreSQL."""
    dagster_dir = state_dir(root) / "dagster"
    (dagster_dir / "logs").mkdir(parents=True, exist_ok=True)
    out = {
        "DAGSTER_HOME": str(root),
        "DAGSTER_ARTIFACTS_DIR": str(dagster_dir),
        "DAGSTER_COMPUTE_LOGS_DIR": str(dagster_dir / "logs"),
    }
    if "DAGSTER_PG_HOST" not in os.environ:
        # instance storage in the same server as the warehouse, database `dagster` if it has one
        url = urlsplit(database_url)
        out.update(
            {
                "DAGSTER_PG_HOST": url.hostname or "127.0.0.1",
                "DAGSTER_PG_PORT": str(url.port or 5432),
                "DAGSTER_PG_USER": url.username or "postgres",
                "DAGSTER_PG_PASSWORD": url.password or "",
                "DAGSTER_PG_DB": os.environ.get("DAGSTER_PG_DB", (url.path or "/").lstrip("/")),
            }
        )
    return out


def prepare(root: Path | None = None, *, with_sandbox: bool = True) -> LocalEnv:
    """Everything a local run needs, started if missing; returns the variables to run with.
    With the project-local servers, the same variables go to the project's `.env` block, so a
    `dagster` / `dg` command typed in a fresh shell there reaches them too (`dotenv.py`)."""
    root = root or project_root()
    env: dict[str, str] = {}
    local = not (os.environ.get("DATABASE_URL") and os.environ.get("MONGODB_URI"))
    if local:
        schema = os.environ.get("CRIPTOPIPE_PG_SCHEMA") or DEFAULT_SCHEMA
        started = servers.up(state_dir(root), schema)
        # the dashboard reads the local server only when the pipeline writes there too
        if os.environ.get("DATABASE_URL"):
            started.pop("DASHBOARD_DATABASE_URL")
        if os.environ.get("MONGODB_URI"):
            started.pop("DASHBOARD_MONGODB_URI")
        env.update({k: v for k, v in started.items() if k not in os.environ})
        if "CRIPTOPIPE_SNAPSHOT_START" not in os.environ:
            env["CRIPTOPIPE_SNAPSHOT_START"] = snapshot_start(root, started["MONGODB_URI"])
    database_url = os.environ.get("DATABASE_URL") or env["DATABASE_URL"]
    for key, value in dagster_env(root, database_url).items():
        env.setdefault(key, value)
    sandbox = False
    if not os.environ.get("COINCAP_API_KEY") and with_sandbox:
        if not os.environ.get("COINCAP_BASE_URL"):
            env["COINCAP_BASE_URL"] = start_sandbox(root)
            env["COINCAP_API_KEY"] = SANDBOX_KEY
        sandbox = True
    if local:
        block = dict(env)
        if not with_sandbox:  # this command decided nothing about CoinCap: keep what .env says
            kept = dotenv.written(root)
            block.update({k: kept[k] for k in SANDBOX_VARIABLES if k in kept and k not in env})
        dotenv.write(root, block)
    return LocalEnv(env=env, sandbox=sandbox, local_servers=local)


def snapshot_start(root: Path, mongo_uri: str) -> str:
    """Where the local archive's snapshot partitions start: as `.env` already says, else the
    first day the archive holds a snapshot, else the latest closed day (the first `make run`
    takes that day's snapshot)."""
    if known := dotenv.written(root).get("CRIPTOPIPE_SNAPSHOT_START"):
        return known
    from criptopipe import datasets
    from criptopipe.storage.mongo import MongoStore
    from criptopipe.storage.slices import Slice

    latest = datetime.now(timezone.utc).date() - timedelta(days=1)
    store = MongoStore(mongo_uri)
    try:
        everything = Slice.days(date(2013, 1, 1), latest)
        days = [
            d for ds in datasets.all_datasets() if ds.snapshot for d in store.days(ds, everything)
        ]
    finally:
        store.close()
    return str(min([*days, latest]))


def stop(root: Path | None = None) -> list[str]:
    root = root or project_root()
    stopped = servers.down(state_dir(root))
    if stop_sandbox(root):
        stopped.append("sandbox")
    if dotenv.remove(root):
        stopped.append(".env block")
    return stopped
