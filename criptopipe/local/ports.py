"""Local ports and the error local servers raise: shared by the embedded servers and sandbox."""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path


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


def wait_for_port(port: int, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.05)
    tail = ""
    if log is not None and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    raise DevServerError(f"{what} did not open 127.0.0.1:{port} within {timeout:.0f}s{tail}")


def holder(port: int) -> str:
    """Who listens on `port` on this machine, as far as the OS tells: 'nginx (pid 812)', or
    'another program' when it does not."""
    import psutil

    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if conn.pid is None:
                    break
                proc = psutil.Process(conn.pid)
                return f"{proc.name()} (pid {conn.pid})"
    except (psutil.Error, OSError):
        pass
    return "another program"


def claim(
    port: int, variable: str, what: str, chosen: bool, *, fallback: bool, command: str
) -> int:
    """The port `what` will listen on: `port` when free. Taken by something else: a default
    port of a server whose address is handed on for us (`fallback`) moves to a free port; a
    port the user chose, or one people open in a browser, fails in one line saying who holds
    it and how to pick another (`command`: the make command that was run)."""
    if not port_open(port):
        return port
    if fallback and not chosen:
        return free_port()
    raise DevServerError(
        f"port {port} ({variable}) for {what} is taken by {holder(port)}. Stop that program, "
        f"or pick another port: `{command} {variable}={free_port()}`."
    )
