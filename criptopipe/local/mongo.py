"""The embedded MongoDB wire server: `nx-27017`, from PyPI (no genuine `mongod` can be installed
without a download); production points `MONGODB_URI` at a real MongoDB."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from criptopipe.local.ports import DevServerError, port_open, wait_for_port
from criptopipe.local.postgres import WAREHOUSE_DB


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
        wait_for_port(self.port, timeout, "The MongoDB wire server (nx-27017)", log)

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
