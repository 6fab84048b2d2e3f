"""The environment `make run`, `make dev` and `make dashboard` run in, set up on demand.

Whatever the user configured wins: `DATABASE_URL` / `MONGODB_URI` point at their servers,
`COINCAP_API_KEY` means real CoinCap. What is missing is started locally and kept in the
project's `.criptopipe/` folder: embedded PostgreSQL (with the dashboard's read-only role,
`DASHBOARD_DATABASE_URL`) and MongoDB wire servers, and the CoinCap sandbox (synthetic data)
when there is no key, with the exchange sandbox beside it (synthetic candles of the same coins)
unless `CRIPTOPIPE_EXCHANGE_URLS` points elsewhere. `stop()` undoes all of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

from criptopipe.config import DEFAULT_BASE_URL, DEFAULT_SCHEMA
from criptopipe.local import dotenv, sandboxes, servers
from criptopipe.local import settings as local
from criptopipe.local.sandboxes import SANDBOX_KEY

__all__ = ["SANDBOX_KEY", "LocalEnv", "prepare", "project_root", "state_dir", "stop"]

#: what `.env` keeps for a command that decides nothing about the sources (dashboard, replay)
SANDBOX_VARIABLES = (
    "COINCAP_BASE_URL",
    "COINCAP_API_KEY",
    "CRIPTOPIPE_EXCHANGE_URLS",
    "CRIPTOPIPE_EXCHANGE_RATE_LIMIT_MS",
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

    The sandboxes are started only when there is no key and no base URL (the exchange one
    unless CRIPTOPIPE_EXCHANGE_URLS is set); `sandbox` is true when the data will be synthetic:
    that sandbox, or a base URL served by one. With the project-local servers, the same
    variables go to the project's `.env` block, so a `dagster` / `dg` command typed in a fresh
    shell there reaches them too (`dotenv.py`)."""
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
        if "CRIPTOPIPE_SNAPSHOT_START" not in os.environ:
            env["CRIPTOPIPE_SNAPSHOT_START"] = snapshot_start(root, started["MONGODB_URI"])
    database_url = os.environ.get("DATABASE_URL") or env["DATABASE_URL"]
    for key, value in dagster_env(root, database_url).items():
        env.setdefault(key, value)
    sandbox = False
    exchanges: str | None = None
    if with_sandbox:
        state = state_dir(root)
        if not os.environ.get("COINCAP_API_KEY") and not os.environ.get("COINCAP_BASE_URL"):
            env["COINCAP_BASE_URL"] = sandboxes.start(
                state, sandboxes.COINCAP_SANDBOX, ports, command
            )
            env["COINCAP_API_KEY"] = SANDBOX_KEY
            sandbox = True
        else:
            sandbox = sandboxes.is_sandbox(os.environ.get("COINCAP_BASE_URL") or DEFAULT_BASE_URL)
        # synthetic CoinCap prices need synthetic candles of the same coins (prices are a
        # function of seed, coin and day): real exchanges would disagree with every one
        if sandbox and not os.environ.get("CRIPTOPIPE_EXCHANGE_URLS"):
            exchanges = sandboxes.start(state, sandboxes.EXCHANGE_SANDBOX, ports, command)
            env.update(sandboxes.exchange_env(exchanges))
    if local_servers:
        block = dict(env)
        if not with_sandbox:  # this command decided nothing about CoinCap: keep what .env says
            kept = dotenv.written(root)
            block.update({k: kept[k] for k in SANDBOX_VARIABLES if k in kept and k not in env})
        dotenv.write(root, block)
    return LocalEnv(
        env=env, sandbox=sandbox, local_servers=local_servers, exchange_sandbox=exchanges
    )


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
    """Everything run/dev/dashboard started: the UI and daemon and the dashboard first (so
    nothing is left talking to a stopped database), then the servers, the sandboxes and the
    `.env` block."""
    from criptopipe.local import processes

    root = root or project_root()
    state = state_dir(root)
    stopped = processes.stop_all(state)
    stopped += servers.down(state)
    if sandboxes.stop(state, sandboxes.COINCAP_SANDBOX):
        stopped.append("sandbox")
    if sandboxes.stop(state, sandboxes.EXCHANGE_SANDBOX):
        stopped.append("exchange sandbox")
    if dotenv.remove(root):
        stopped.append(".env block")
    return stopped
