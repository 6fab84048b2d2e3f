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
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from criptopipe.config import DEFAULT_BASE_URL, DEFAULT_SCHEMA
from criptopipe.local import servers
from criptopipe.local import settings as local
from criptopipe.local.ports import DevServerError, claim

SANDBOX_KEY = "sandbox"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


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


def is_sandbox(base_url: str) -> bool:
    """Whether `base_url` is served by a CoinCap sandbox (criptopipe-sandbox) on this machine:
    its admin route answers. Only loopback URLs are asked; CoinCap itself never is."""
    parts = urlsplit(base_url)
    if parts.hostname not in LOOPBACK_HOSTS or parts.port is None:
        return False
    with contextlib.suppress(httpx.HTTPError):
        origin = f"{parts.scheme}://{parts.netloc}"
        return httpx.get(f"{origin}/__admin/health", timeout=1).status_code == 200
    return False


def start_sandbox(
    root: Path, ports: local.LocalSettings | None = None, command: str = "make run"
) -> str:
    """Start the CoinCap sandbox in the background (or reuse it); returns its base URL."""
    ports = ports or local.local_settings()
    wanted, chosen = ports.port(local.SANDBOX)
    path = _sandbox_state(root)
    with contextlib.suppress(OSError, ValueError, KeyError):
        known = json.loads(path.read_text())
        if _sandbox_healthy(int(known["port"])):
            if not chosen or int(known["port"]) == wanted:
                return f"http://127.0.0.1:{known['port']}/v3"
            stop_sandbox(root)
    port = claim(
        wanted, local.SANDBOX.variable, local.SANDBOX.what, chosen, fallback=True, command=command
    )
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


def prepare(
    root: Path | None = None, *, with_sandbox: bool = True, command: str = "make run"
) -> LocalEnv:
    """Everything a local run needs, started if missing; returns the variables to run with.

    The sandbox is started only when there is neither a key nor a base URL; `sandbox` is true
    when the data will be synthetic: that sandbox, or a base URL served by one."""
    root = root or project_root()
    ports = local.local_settings()
    env: dict[str, str] = {}
    local_servers = not (os.environ.get("DATABASE_URL") and os.environ.get("MONGODB_URI"))
    if local_servers:
        schema = os.environ.get("CRIPTOPIPE_PG_SCHEMA") or DEFAULT_SCHEMA
        started = servers.up(state_dir(root), schema, ports, command)
        # the dashboard reads the local server only when the pipeline writes there too
        if os.environ.get("DATABASE_URL"):
            started.pop("DASHBOARD_DATABASE_URL")
        if os.environ.get("MONGODB_URI"):
            started.pop("DASHBOARD_MONGODB_URI")
        env.update({k: v for k, v in started.items() if k not in os.environ})
    database_url = os.environ.get("DATABASE_URL") or env["DATABASE_URL"]
    for key, value in dagster_env(root, database_url).items():
        env.setdefault(key, value)
    sandbox = False
    if with_sandbox:
        if not os.environ.get("COINCAP_API_KEY") and not os.environ.get("COINCAP_BASE_URL"):
            env["COINCAP_BASE_URL"] = start_sandbox(root, ports, command)
            env["COINCAP_API_KEY"] = SANDBOX_KEY
            sandbox = True
        else:
            sandbox = is_sandbox(os.environ.get("COINCAP_BASE_URL") or DEFAULT_BASE_URL)
    return LocalEnv(env=env, sandbox=sandbox, local_servers=local_servers)


def stop(root: Path | None = None) -> list[str]:
    """Everything run/dev/dashboard started: the UI and daemon and the dashboard first (so
    nothing is left talking to a stopped database), then the servers and the sandbox."""
    from criptopipe.local import processes

    root = root or project_root()
    stopped = processes.stop_all(state_dir(root))
    stopped += servers.down(state_dir(root))
    if stop_sandbox(root):
        stopped.append("sandbox")
    return stopped
