"""What each command installs, read from the Makefile and uv.lock themselves: `make run` takes
the pipeline and the dashboard and none of the test tools, `make test` adds them, the Docker
image installs the same locked versions, the lock matches pyproject.toml, and the OS packages
only the tests need are asked for by the tests alone."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: the test and lint groups' packages that nothing at run time needs (pillow is streamlit's own
#: dependency too), plus what playwright alone brings
TEST_ONLY = {
    "pytest",
    "pytest-timeout",
    "pytest-xdist",
    "execnet",
    "playwright",
    "ruff",
    "mypy",
    "pandas-stubs",
    "greenlet",
}
RUNTIME = {"dagster", "dagster-webserver", "dagster-postgres", "streamlit", "plotly", "nx-27017"}


def make(*args: str) -> str:
    res = subprocess.run(
        ["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def uv() -> str:
    return make("-s", "print-UV").strip()


def locked(*selection: str) -> dict[str, str]:
    """name -> version that `uv export` of uv.lock gives for `selection` (no network)."""
    res = subprocess.run(
        [uv(), "export", "--frozen", "--no-hashes", "--no-emit-project", *selection],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    found = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", res.stdout, re.M)
    return {name.lower(): version for name, version in found}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


def test_make_run_installs_the_pipeline_and_dashboard_but_no_test_tools() -> None:
    run = locked(*shlex.split(make("-s", "print-RUN_SET")))
    test = locked(*shlex.split(make("-s", "print-TEST_SET")))
    assert RUNTIME <= set(run), RUNTIME - set(run)
    assert set(run).isdisjoint(TEST_ONLY), set(run) & TEST_ONLY
    assert TEST_ONLY <= set(test), TEST_ONLY - set(test)
    groups = {_name(r) for members in PYPROJECT["dependency-groups"].values() for r in members}
    assert groups - {"pillow"} <= TEST_ONLY, "a new test-only package: add it to TEST_ONLY"
    # one lock: the versions both installs share are the same
    assert all(test[name] == version for name, version in run.items())


def test_make_run_dev_and_dashboard_sync_the_run_set_and_ask_only_for_postgresql() -> None:
    for target in ("run", "dev", "dashboard"):
        plan = make("-n", "-B", target)  # what make would execute, nothing executed
        assert "sync --locked" in plan and "--no-default-groups" in plan, target
        assert "--all-groups" not in plan and "pytest" not in plan, target
        assert "ensure-system-deps.sh run" in plan and "ensure-system-deps.sh test" not in plan
    plan = make("-n", "-B", "test")
    assert "--all-groups" in plan and "ensure-system-deps.sh test" in plan
    assert "bash .ci/run" not in plan and "make test" in (ROOT / ".ci/run").read_text()


def test_system_deps_for_run_never_ask_for_the_browser(tmp_path: Path) -> None:
    """The script on a PATH with neither Chromium, docker-compose nor apt-get: the run mode
    asks for nothing more (PostgreSQL is configured away), the test mode names both."""
    for tool in ("bash", "ls", "id"):
        (tmp_path / tool).symlink_to(subprocess.check_output(["which", tool], text=True).strip())
    env = {"PATH": str(tmp_path), "DATABASE_URL": "postgresql://u@127.0.0.1/db"}
    script = str(ROOT / "scripts" / "ensure-system-deps.sh")
    asked = {}
    for mode in ("run", "test"):
        res = subprocess.run(
            [str(tmp_path / "bash"), script, mode], env=env, capture_output=True, text=True
        )
        assert res.returncode == 0, res.stderr
        asked[mode] = res.stdout
    assert asked["run"] == ""
    assert "missing OS packages: chromium docker-compose" in asked["test"]


def test_dockerfile_installs_the_locked_run_set() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    exports = re.findall(r"uv export ((?:[^\n\\]|\\\n)+)", dockerfile)
    assert exports, "the image must install from uv.lock"
    for command in exports:
        args = [a for a in shlex.split(command.replace("\\\n", " ")) if a != "--no-hashes"]
        args = args[: args.index("--format")] if "--format" in args else args
        image = locked(*[a for a in args if a not in ("--frozen", "--no-emit-project")])
        assert image["dagster"] == locked()["dagster"]
        assert "streamlit" in image and set(image).isdisjoint(TEST_ONLY | {"nx-27017"})
    assert "COPY pyproject.toml uv.lock" in dockerfile


def test_lock_matches_pyproject_and_the_licence_is_declared() -> None:
    res = subprocess.run(
        [uv(), "lock", "--check", "--offline", "--python", "python3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    assert res.returncode == 0, res.stderr
    project = PYPROJECT["project"]
    assert project["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert re.fullmatch(r">=3\.\d+,<3\.\d+", project["requires-python"])
    assert PYPROJECT["tool"]["uv"]["python-downloads"] == "never"
