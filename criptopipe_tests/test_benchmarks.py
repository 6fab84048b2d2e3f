"""Every benchmark runs as the README prints it (`python benchmarks/<name>.py`, from anywhere):
the test helpers it imports, at load or inside its functions, resolve from a process started
outside the checkout."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "benchmarks").glob("*.py"))

PROBE = """
import importlib, runpy, sys
script, modules = sys.argv[1], sys.argv[2:]
runpy.run_path(script, run_name="benchmark_import_probe")
for name in modules:
    importlib.import_module(name)
"""


def _imported(script: Path) -> list[str]:
    names = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return sorted(n for n in names if n.split(".")[0] in {"criptopipe", "criptopipe_tests"})


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_a_benchmark_finds_what_it_imports_when_run_from_elsewhere(
    script: Path, tmp_path: Path
) -> None:
    res = subprocess.run(
        [sys.executable, "-c", PROBE, str(script), *_imported(script)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
