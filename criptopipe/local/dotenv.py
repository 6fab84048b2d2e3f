"""The project's `.env`: the local environment for commands typed in a fresh shell.

Every `dagster` / `dg` command loads `.env` from the folder it runs in (Dagster's own
convenience), so writing the local servers' variables there makes the README's commands work
as typed after `make run`: `dg launch ...`, `dagster schedule start ... -w workspace.yaml`.
Two rules keep it harmless:

- Only a marked block is ours; any other line (docker-compose reads the same file) is left as
  it is, and `make stop` removes the block, since the servers it points at are stopped.
- Each value is written as `KEY="${KEY:-value}"`: Dagster's loader lets a `.env` override the
  shell, so the default form hands the shell's own value back whenever one is exported, and a
  variable set for one command (`DATABASE_URL=... dagster ...`, the test suite) still wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

BEGIN = "# >>> criptopipe local environment: written by make run / make dev, removed by make stop"
END = "# <<< criptopipe local environment"
#: characters that would end the `${KEY:-...}` form or its quotes early
_UNSAFE = set('"$}\\\n')


def path(root: Path) -> Path:
    return root / ".env"


def _split(text: str) -> tuple[list[str], list[str]]:
    """(lines outside our block, lines inside it)."""
    outside: list[str] = []
    inside: list[str] = []
    ours = False
    for line in text.splitlines():
        if line.startswith(BEGIN):
            ours = True
        elif line.startswith(END):
            ours = False
        elif ours:
            inside.append(line)
        else:
            outside.append(line)
    return outside, inside


def render(env: Mapping[str, str]) -> list[str]:
    lines = [BEGIN]
    for key, value in sorted(env.items()):
        if _UNSAFE & set(value):
            raise ValueError(f"{key}'s value cannot be written to .env as a default")
        lines.append(f'{key}="${{{key}:-{value}}}"')
    lines.append(END)
    return lines


def write(root: Path, env: Mapping[str, str]) -> Path:
    """Replace our block in `.env` with `env`, keeping every other line."""
    target = path(root)
    outside, _ = _split(target.read_text() if target.exists() else "")
    while outside and not outside[-1].strip():
        outside.pop()
    block = render(env)
    target.write_text("\n".join([*outside, *([""] if outside else []), *block]) + "\n")
    return target


def remove(root: Path) -> bool:
    """Drop our block; delete the file when nothing else was in it. True if there was one."""
    target = path(root)
    if not target.exists():
        return False
    outside, inside = _split(target.read_text())
    if not inside and BEGIN not in target.read_text():
        return False
    if any(line.strip() for line in outside):
        target.write_text("\n".join(outside).rstrip("\n") + "\n")
    else:
        target.unlink()
    return True


def written(root: Path) -> dict[str, str]:
    """The defaults our block holds (`KEY="${KEY:-value}"` -> {KEY: value})."""
    target = path(root)
    if not target.exists():
        return {}
    out: dict[str, str] = {}
    for line in _split(target.read_text())[1]:
        key, sep, rest = line.partition('="${')
        if sep and rest.endswith('}"') and ":-" in rest:
            out[key] = rest[:-2].split(":-", 1)[1]
    return out
