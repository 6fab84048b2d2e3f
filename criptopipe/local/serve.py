"""`make dev` and `make dashboard`: the programs people open in a browser.

Each checks its port first (already running: says where; taken by something else: says by whom
and how to pick another), records itself for `make stop` (`processes.py`) and replaces its own
process with `dagster dev` or `streamlit run`. Both listen on 127.0.0.1 unless
CRIPTOPIPE_UI_HOST / CRIPTOPIPE_DASHBOARD_HOST say otherwise.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from criptopipe import config
from criptopipe.local import env as localenv
from criptopipe.local import processes
from criptopipe.local import settings as local
from criptopipe.local.commands import prepare, reap_dead_runs, say
from criptopipe.local.ports import DevServerError, claim


def _listen(
    name: str, setting: local.PortSetting, host: str | None, port: int | None
) -> tuple[str, int] | None:
    """(host, port) for `make dev` / `make dashboard`, or None after saying in one line why
    not: it is already running, or the port is taken by something else."""
    try:
        ports = local.local_settings()
        already = processes.running(localenv.state_dir(), name)
        if already is not None:
            say(
                f"{already.label} already runs at {already.url} (pid {already.pid}); `make stop` stops it"
            )
            return None
        host = host or (ports.ui_host if setting is local.UI else ports.dashboard_host)
        wanted, chosen = (port, True) if port is not None else ports.port(setting)
        command = f"make {name}"
        return host, claim(
            wanted, setting.variable, setting.what, chosen, fallback=False, command=command
        )
    except (DevServerError, config.ConfigError) as exc:
        say(f"error: {exc}")
        return None


def _exec(
    argv: list[str], name: str, label: str, url: str, with_sandbox: bool = True, reap: bool = False
) -> int:
    local_env = prepare(with_sandbox=with_sandbox, command=f"make {name}")
    if local_env is None:
        return 1
    if local_env.sandbox:
        say(f"SANDBOX MODE: CoinCap data is SYNTHETIC ({local_env.base_url}).")
    os.environ.update(local_env.env)
    if reap:
        reap_dead_runs()
    processes.record(localenv.state_dir(), name, label, url)
    say(f"{label}: {url}  (`make stop` stops it)")
    os.execvpe(argv[0], argv, dict(os.environ))
    return 0  # pragma: no cover - exec does not return


def cmd_dev(host: str | None = None, port: int | None = None) -> int:
    listen = _listen("dev", local.UI, host, port)
    if listen is None:
        return 1
    host, port = listen
    workspace = localenv.project_root() / "workspace.yaml"
    argv = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(workspace),
        "-h",
        host,
        "-p",
        str(port),
    ]
    return _exec(argv, "dev", "Dagster UI and daemon", f"http://{host}:{port}", reap=True)


def cmd_dashboard(host: str | None = None, port: int | None = None) -> int:
    listen = _listen("dashboard", local.DASHBOARD, host, port)
    if listen is None:
        return 1
    host, port = listen
    app = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    argv = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    return _exec(argv, "dashboard", "dashboard", f"http://{host}:{port}", with_sandbox=False)
