"""The architecture, checked: data flows one way and each concern stays in its room.

- nothing outside `criptopipe/defs/` (and `definitions.py`) imports Dagster;
- an asset module never imports the IO manager (they meet through `SliceOutput` only);
- the environment is read in `criptopipe/config.py` and `criptopipe/local/` only;
- no module outgrows 300 lines, except the CoinCap sandbox's server and universe.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "criptopipe"
SANDBOX_EXCEPTIONS = {"sources/coincap/sandbox/server.py", "sources/coincap/sandbox/universe.py"}


def _modules() -> list[tuple[str, ast.Module, str]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        text = path.read_text()
        out.append((rel, ast.parse(text), text))
    return out


def _imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_only_defs_knows_dagster() -> None:
    offenders = [
        rel
        for rel, tree, _ in _modules()
        if not rel.startswith("defs/")
        and rel != "definitions.py"
        and any(n == "dagster" or n.startswith(("dagster.", "dagster_")) for n in _imports(tree))
    ]
    assert offenders == []


def test_assets_do_not_import_the_io_manager() -> None:
    offenders = [
        rel
        for rel, tree, _ in _modules()
        if rel.startswith("defs/assets/")
        and any(n.startswith("criptopipe.defs.io_manager") for n in _imports(tree))
    ]
    assert offenders == []


def test_the_environment_is_read_in_config_and_local_only() -> None:
    offenders = [
        rel
        for rel, _, text in _modules()
        if ("os.environ" in text or "getenv" in text)
        and rel != "config.py"
        and not rel.startswith("local/")
    ]
    assert offenders == []


def test_modules_stay_small() -> None:
    long = {
        rel: text.count("\n")
        for rel, _, text in _modules()
        if text.count("\n") > 300 and rel not in SANDBOX_EXCEPTIONS
    }
    assert long == {}
