"""The environment `make run`, `make dev` and `make dashboard` run in, set up on demand.

Whatever the user configured wins: `DATABASE_URL` / `MONGODB_URI` point at their servers,
`COINCAP_API_KEY` means real CoinCap. What is missing is started locally and kept in the
project's `.criptopipe/` folder: embedded PostgreSQL (with the dashboard's read-only role,
`DASHBOARD_DATABASE_URL`) and MongoDB wire servers, and the CoinCap sandbox (synthetic data)
when there is no key, with the exchange sandbox beside it (synthetic candles of the same coins)
unless `CRIPTOPIPE_EXCHANGE_URLS` points elsewhere. `stop()` undoes all of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
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
SANDBOX_VARIABLES = (
    "COINCAP_BASE_URL",
    "COINCAP_API_KEY",
    "CRIPTOPIPE_EXCHANGE_URLS",
    "CRIPTOPIPE_EXCHANGE_RATE_LIMIT_MS",
)
EXCHANGE_SANDBOX_PORT = 8556
#: CCXT's spacing against the local exchange sandbox (ms per unit of cost): it serves one
#: machine, so CCXT's production politeness (binance 50, kraken 1000) would only slow `make run`
SANDBOX_RATE_LIMIT_MS = "binance=5,kraken=20"


@dataclass(frozen=True)
class Sandbox:
    """A local stand-in server run in the background: its module, arguments, health route."""

    name: str  # state file `<name>.json` and log `<name>.log` under .criptopipe/
    label: str
    module: str
    args: tuple[str, ...]
    #: the URL the pipeline is given, from the port it listens on
    url: Callable[[int], str]


COINCAP_SANDBOX = Sandbox(
    "sandbox",
    "the CoinCap sandbox",
    "criptopipe.sources.coincap.sandbox",
    ("--key", SANDBOX_KEY),
    lambda port: f"http://127.0.0.1:{port}/v3",
)
#: the same synthetic universe as the CoinCap sandbox (both default to 300 coins, seed 0)
EXCHANGE_SANDBOX = Sandbox(
    "exchange-sandbox",
    "the exchange sandbox",
    "criptopipe.sources.exchanges.sandbox",
    (),
    lambda port: f"http://127.0.0.1:{port}",
)


@dataclass
class LocalEnv:
    env: dict[str, str]
    sandbox: bool
    local_servers: bool
    #: the exchange sandbox's root URL when candles come from it (synthetic), else None
    exchange_sandbox: str | None = None

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


def _healthy(port: int) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"http://127.0.0.1:{port}/__admin/health", timeout=1).status_code == 200
    return False


def start_server(root: Path, server: Sandbox, port: int) -> str:
    """Start `server` in the background (or reuse the one running); returns its URL."""
    path = state_dir(root) / f"{server.name}.json"
    with contextlib.suppress(OSError, ValueError, KeyError):
        known = json.loads(path.read_text())
        if _healthy(int(known["port"])):
            return server.url(int(known["port"]))
    if port_open(port):
        port = free_port()
    log = state_dir(root) / f"{server.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", server.module, "--port", str(port), *server.args],
        stdin=subprocess.DEVNULL,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _healthy(port):
            path.write_text(json.dumps({"port": port, "pid": proc.pid}))
            return server.url(port)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise DevServerError(f"{server.label} did not start; see {log}")


def stop_server(root: Path, server: Sandbox) -> bool:
    path = state_dir(root) / f"{server.name}.json"
    try:
        pid = int(json.loads(path.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    path.unlink(missing_ok=True)
    return True


def start_sandbox(root: Path, port: int = SANDBOX_PORT) -> str:
    """Start the CoinCap sandbox in the background (or reuse it); returns its base URL."""
    return start_server(root, COINCAP_SANDBOX, port)


def start_exchange_sandbox(root: Path, port: int = EXCHANGE_SANDBOX_PORT) -> str:
    """Start the exchange sandbox (Binance and Kraken imitated) or reuse it; returns its root."""
    return start_server(root, EXCHANGE_SANDBOX, port)


def exchange_sandbox_env(root_url: str) -> dict[str, str]:
    """Every imitated exchange pointed at the exchange sandbox, with a short CCXT spacing."""
    return {
        "CRIPTOPIPE_EXCHANGE_URLS": ",".join(
            f"{ex}={root_url}/{ex}" for ex in ("binance", "kraken")
        ),
        "CRIPTOPIPE_EXCHANGE_RATE_LIMIT_MS": SANDBOX_RATE_LIMIT_MS,
    }


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
    exchanges: str | None = None
    if not os.environ.get("COINCAP_API_KEY") and with_sandbox:
        if not os.environ.get("COINCAP_BASE_URL"):
            env["COINCAP_BASE_URL"] = start_sandbox(root)
            env["COINCAP_API_KEY"] = SANDBOX_KEY
        # synthetic CoinCap prices need synthetic candles of the same coins (prices are a
        # function of seed, coin and day): real exchanges would disagree with every one
        if not os.environ.get("CRIPTOPIPE_EXCHANGE_URLS"):
            exchanges = start_exchange_sandbox(root)
            env.update(exchange_sandbox_env(exchanges))
        sandbox = True
    if local:
        block = dict(env)
        if not with_sandbox:  # this command decided nothing about CoinCap: keep what .env says
            kept = dotenv.written(root)
            block.update({k: kept[k] for k in SANDBOX_VARIABLES if k in kept and k not in env})
        dotenv.write(root, block)
    return LocalEnv(env=env, sandbox=sandbox, local_servers=local, exchange_sandbox=exchanges)


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
    if stop_server(root, COINCAP_SANDBOX):
        stopped.append("sandbox")
    if stop_server(root, EXCHANGE_SANDBOX):
        stopped.append("exchange sandbox")
    if dotenv.remove(root):
        stopped.append(".env block")
    return stopped
