"""Every command the README and docs/ give runs, verbatim, in a fresh shell in the project folder
after `make run` (a copy of the project, a clean environment: PATH and HOME only).

The commands are read from the documents, so the documents cannot drift: a line of a fenced
`bash` block, a row of the README's command table, or a command with options written inline in
the README. Each runs and must succeed, or is in SKIPPED with the reason it cannot run here (the
test suite itself, a server that never exits, a deployment to another machine).
"""

from __future__ import annotations

import re

import pytest

from criptopipe_tests.e2e.made import ROOT, MadeProject

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROGRAMS = ("make", "criptopipe", "dagster", "dg", "python", "pytest")

#: commands that are not run here, by their start, and why
SKIPPED = {
    "make run": "the session's project is prepared by it (checked below)",
    "export COINCAP_API_KEY": "needs your own CoinCap key; the sandbox stands in everywhere else",
    "make test": "the suite this test belongs to",
    "make stop": "run when the session's project is torn down (it must succeed)",
    "make clean": "make stop plus deleting the local data and venv the later tests use",
    "make dev": "a server that never exits; the UI test starts it the same way (cli dev)",
    "make dashboard": "a server that never exits; the dashboard browser test starts it",
    "make bench": "minutes of benchmarks; each script is its own command",
    "python benchmarks/": "benchmarks take minutes each; `make bench` runs them",
    "pytest ": "the test suite itself",
    "cp .env.example .env": "docker-compose's set-up (docs/deploy.md); tests/deploy covers it",
    "docker": "no Docker engine here; tests/deploy validates the compose files",
    "kubectl": "a Kubernetes cluster (docs/deploy.md)",
    "helm": "a Kubernetes cluster (docs/deploy.md)",
    "psql ": "a managed PostgreSQL elsewhere (docs/deploy.md)",
}
#: variables shown as examples of an environment (`NAME=value` lines), not commands
ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=\S*$")


def _fenced(text: str) -> list[str]:
    out = []
    for block in re.findall(r"```(?:bash|sh)\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            command = re.sub(r"\s+", " ", command)
            if command and not command.startswith("#") and not ASSIGNMENT.match(command):
                out.append(command)
    return out


def _inline(text: str) -> list[str]:
    """README commands written in prose: the command table, and commands with options."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S).replace("\n", " ")
    spans = re.findall(r"`([^`]+)`", prose)
    out = []
    for span in spans:
        command = re.sub(r"\s+", " ", span).strip()
        first = command.split(" ")[0]
        if first == "make" and len(command.split(" ")) == 2:
            out.append(command)
        elif first in PROGRAMS and " --" in command:
            out.append(command)
    return out


def documented_commands() -> list[str]:
    found: list[str] = []
    for doc in DOCUMENTS:
        text = doc.read_text()
        found += _fenced(text) + (_inline(text) if doc.name == "README.md" else [])
    return list(dict.fromkeys(found))


def _skip_reason(command: str) -> str | None:
    """Why `command` is not run; its program is what follows any `NAME=value` prefixes."""
    program = re.sub(r"^(?:[A-Z_][A-Z0-9_]*=(?:\$\([^)]*\)|\S)*\s+)+", "", command)
    return next((why for start, why in SKIPPED.items() if program.startswith(start)), None)


def test_the_documents_name_commands_and_each_is_run_or_skipped_with_a_reason() -> None:
    commands = documented_commands()
    for expected in (
        "make run",
        "dg launch --assets asset_history --partition-range 2024-01-01...2024-03-31",
        "dagster schedule start --start-all -w workspace.yaml",
        "criptopipe replay --select asset_history --partition-range 2024-01-01...2024-03-31",
    ):
        assert expected in commands
    placeholders = [c for c in commands if re.search(r"<[a-z ]+>|\bA\.\.\.B\b", c)]
    assert placeholders == [], "a command to type must be typeable"


def test_make_run_prints_no_warning(made: MadeProject) -> None:
    assert made.run.returncode == 0, made.run.stdout[-4000:] + made.run.stderr[-4000:]
    out = made.run.stdout + made.run.stderr + made.run_log()
    assert "SANDBOX MODE" in made.run.stdout and "CoinCap spend this run" in made.run.stdout
    assert [line for line in out.splitlines() if "Warning" in line] == []
    assert "never awaited" not in out
    assert made.dotenv()["CRIPTOPIPE_SNAPSHOT_START"]  # the first snapshot day, for Dagster


@pytest.mark.parametrize("command", [c for c in documented_commands() if _skip_reason(c) is None])
def test_documented_command_runs_as_typed(made: MadeProject, command: str) -> None:
    assert made.run.returncode == 0, "make run failed: see test_make_run_prints_no_warning"
    res = made.shell(command)
    out = res.stdout + res.stderr
    assert res.returncode == 0, f"$ {command}\n{out[-6000:]}"
    assert "Traceback" not in out, out[-6000:]
