"""The local stand-in servers `make run` starts when nothing real is configured: the CoinCap
sandbox (no key) and, beside it, the exchange sandbox (Binance and Kraken imitated over the same
synthetic coins). Each runs in the background with its port and pid in `.criptopipe/<name>.json`
and its log beside it; a running one is reused."""

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
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from criptopipe.local import settings as local
from criptopipe.local.ports import DevServerError, claim

SANDBOX_KEY = "sandbox"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
#: CCXT's spacing against the local exchange sandbox (ms per unit of cost): it serves one
#: machine, so CCXT's production politeness (binance 50, kraken 1000) would only slow `make run`
SANDBOX_RATE_LIMIT_MS = "binance=5,kraken=20"


@dataclass(frozen=True)
class Sandbox:
    """A local stand-in server run in the background: its module, arguments, port setting."""

    name: str  # state file `<name>.json` and log `<name>.log` under .criptopipe/
    module: str
    args: tuple[str, ...]
    port: local.PortSetting
    #: the URL the pipeline is given, from the port it listens on
    url: Callable[[int], str]


COINCAP_SANDBOX = Sandbox(
    "sandbox",
    "criptopipe.sources.coincap.sandbox",
    ("--key", SANDBOX_KEY),
    local.SANDBOX,
    lambda port: f"http://127.0.0.1:{port}/v3",
)
#: the same synthetic universe as the CoinCap sandbox (both default to 300 coins, seed 0)
EXCHANGE_SANDBOX = Sandbox(
    "exchange-sandbox",
    "criptopipe.sources.exchanges.sandbox",
    (),
    local.EXCHANGE_SANDBOX,
    lambda port: f"http://127.0.0.1:{port}",
)


def _healthy(port: int) -> bool:
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


def start(
    state: Path,
    server: Sandbox,
    ports: local.LocalSettings | None = None,
    command: str = "make run",
) -> str:
    """Start `server` in the background (or reuse the one running); returns its URL. Its port
    comes from its variable, else the default (moved to a free one when taken)."""
    ports = ports or local.local_settings()
    wanted, chosen = ports.port(server.port)
    path = state / f"{server.name}.json"
    with contextlib.suppress(OSError, ValueError, KeyError):
        known = json.loads(path.read_text())
        if _healthy(int(known["port"])):
            if not chosen or int(known["port"]) == wanted:
                return server.url(int(known["port"]))
            stop(state, server)
    port = claim(
        wanted, server.port.variable, server.port.what, chosen, fallback=True, command=command
    )
    log = state / f"{server.name}.log"
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
    raise DevServerError(f"{server.port.what} did not start; see {log}")


def stop(state: Path, server: Sandbox) -> bool:
    path = state / f"{server.name}.json"
    try:
        pid = int(json.loads(path.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    path.unlink(missing_ok=True)
    return True


def exchange_env(root_url: str) -> dict[str, str]:
    """Every imitated exchange pointed at the exchange sandbox, with a short CCXT spacing."""
    return {
        "CRIPTOPIPE_EXCHANGE_URLS": ",".join(
            f"{ex}={root_url}/{ex}" for ex in ("binance", "kraken")
        ),
        "CRIPTOPIPE_EXCHANGE_RATE_LIMIT_MS": SANDBOX_RATE_LIMIT_MS,
    }
