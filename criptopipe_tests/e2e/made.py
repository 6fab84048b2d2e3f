"""A copy of the project, prepared by `make run` exactly as a new user would: a clean
environment (only PATH and HOME), no variables of the test session, the project-local servers
and sandbox of its own. Shared by the README-commands test and the UI test (one `make run` for
the session), stopped with `make stop` at the end."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IGNORED = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".criptopipe",
    ".env",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "*.egg-info",
    ".tmp_dagster_home_*",
    "img",
)
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class MadeProject:
    root: Path
    run: subprocess.CompletedProcess[str]

    @property
    def env(self) -> dict[str, str]:
        """A fresh shell's environment: the project's venv on PATH, nothing else of ours."""
        return {
            "PATH": f"{self.root / '.venv' / 'bin'}:{SYSTEM_PATH}",
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
        }

    def shell(self, command: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """`command` verbatim, in a new bash in the project folder."""
        return subprocess.run(
            ["bash", "-c", command],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def run_log(self) -> str:
        return "".join(p.read_text() for p in (self.root / ".criptopipe" / "logs").glob("run-*"))

    def dotenv(self) -> Mapping[str, str]:
        from criptopipe.local import dotenv

        return dotenv.written(self.root)


def _copy() -> Path:
    """The checkout without its local state, in a folder PostgreSQL's user may enter, sharing
    the checkout's virtualenv (its editable install points at the checkout's code)."""
    base = Path(tempfile.mkdtemp(prefix="criptopipe-made-"))
    base.chmod(0o755)
    root = base / "project"
    shutil.copytree(ROOT, root, ignore=IGNORED)
    (root / ".venv").symlink_to(ROOT / ".venv")
    stamp = ROOT / ".venv" / ".installed-run"
    if stamp.exists():  # make must not reinstall the shared venv from the copy
        older = stamp.stat().st_mtime - 60
        for name in ("pyproject.toml", "uv.lock"):
            os.utime(root / name, (older, older))
    return root


@contextmanager
def made_project() -> Iterator[MadeProject]:
    root = _copy()
    project = MadeProject(root, subprocess.CompletedProcess([], 0, "", ""))
    try:
        project.run = project.shell("make run", timeout=900)
        yield project
    finally:
        stopped = project.shell("make stop", timeout=120)
        shutil.rmtree(root.parent, ignore_errors=True)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
