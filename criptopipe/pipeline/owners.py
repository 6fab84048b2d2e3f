"""Which process owns something, and whether that process is still alive. No Dagster here.

A run worker and a spill folder both outlive a `kill -9` of the process that made them: the run
stays STARTED holding its pool slot, the folder stays in the temp directory. Whoever comes next
can clean up only if it can prove the owner is gone, so owners are recorded as an `Owner`:
host name, pid, and the process's start mark (boot id + start time in clock ticks since boot,
read from /proc). The start mark is what makes the proof safe against pid reuse: a new process
that happens to get the same pid has a different start time.

The verdict is deliberately three-valued. A process on another host (another container, another
machine) can be neither confirmed nor ruled out from here, so it is `UNKNOWN` and nothing of it
is touched. The one assumption: a host name stands for one process table, i.e. no two live
containers share a host name with separate pid namespaces (compose's `code` service has a fixed
name so that its *recreated* container can prove the old one's processes gone).
"""

from __future__ import annotations

import enum
import json
import os
import socket
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

_PROC = Path("/proc")


class Liveness(enum.Enum):
    ALIVE = "alive"
    DEAD = "dead"
    UNKNOWN = "unknown"  # another host: cannot be checked from here


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    #: "<boot id>:<start ticks>" on Linux, "" where /proc is not available
    started: str = ""

    def encode(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def decode(cls, text: str | None) -> Owner | None:
        """The owner recorded in `text`, or None for anything unreadable (never raises)."""
        if not text:
            return None
        try:
            raw = json.loads(text)
            return cls(host=str(raw["host"]), pid=int(raw["pid"]), started=str(raw["started"]))
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"


@cache
def _boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start ticks) of a local process from /proc/<pid>/stat, None if there is none."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after its last ')'
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], fields[19]  # field 3 (state) and field 22 (starttime)


def _start_mark(pid: int) -> str:
    boot, stat = _boot_id(), _stat(pid)
    return f"{boot}:{stat[1]}" if boot and stat else ""


def current() -> Owner:
    """This process, as an owner to record."""
    pid = os.getpid()
    return Owner(host=socket.gethostname(), pid=pid, started=_start_mark(pid))


def liveness(owner: Owner) -> Liveness:
    """Whether `owner` still runs. DEAD only when that is certain."""
    if owner.host != socket.gethostname():
        return Liveness.UNKNOWN
    if owner.started and _boot_id():
        boot, _, ticks = owner.started.partition(":")
        if boot != _boot_id():
            return Liveness.DEAD  # this machine restarted since: every process of then is gone
        stat = _stat(owner.pid)
        if stat is None or stat[0] in {"Z", "X"}:  # gone, or a zombie nobody reaped yet
            return Liveness.DEAD
        return Liveness.ALIVE if stat[1] == ticks else Liveness.DEAD  # else: pid reused
    try:  # no /proc: the pid alone (cannot tell a reused pid from the owner)
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return Liveness.DEAD
    except PermissionError:
        return Liveness.ALIVE  # exists, owned by another user
    return Liveness.ALIVE
