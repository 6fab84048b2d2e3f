"""Where the local commands listen: every port and host from a variable, a bad value or a port
taken by another program refused in one line naming it, and `make help` saying what runs."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from criptopipe import cli, config
from criptopipe.local import servers
from criptopipe.local import settings as local
from criptopipe.local.ports import DevServerError, claim

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def taken() -> Iterator[int]:
    """A port some other program (this test) listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder of its own (no recorded `make dev` of this checkout interferes)."""
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_port_and_host_comes_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in local.PORTS:
        monkeypatch.delenv(setting.variable, raising=False)
        assert local.local_settings().port(setting) == (setting.default, False)
        monkeypatch.setenv(setting.variable, "40123")
        assert local.local_settings().port(setting) == (40123, True)
    assert local.local_settings().dashboard_host == "127.0.0.1"
    monkeypatch.setenv("CRIPTOPIPE_DASHBOARD_HOST", "0.0.0.0")
    assert local.local_settings().dashboard_host == "0.0.0.0"


@pytest.mark.parametrize("value", ["abc", "0", "70000"])
def test_a_bad_port_is_one_line_naming_the_variable(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRIPTOPIPE_MONGO_PORT", value)
    with pytest.raises(config.ConfigError) as caught:
        local.local_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"CRIPTOPIPE_MONGO_PORT={value!r}")
    assert message.endswith("Example: CRIPTOPIPE_MONGO_PORT=57017")


def test_a_taken_default_moves_a_chosen_one_fails_naming_the_holder(taken: int) -> None:
    args = ("CRIPTOPIPE_PG_PORT", "the local PostgreSQL")
    moved = claim(taken, *args, chosen=False, fallback=True, command="make run")
    assert moved != taken
    with pytest.raises(DevServerError) as caught:
        claim(taken, *args, chosen=True, fallback=True, command="make run")
    message = str(caught.value)
    assert f"port {taken} (CRIPTOPIPE_PG_PORT) for the local PostgreSQL is taken by " in message
    assert f"(pid {os.getpid()})" in message  # this test's own process holds it
    assert re.search(r"`make run CRIPTOPIPE_PG_PORT=\d+`", message), message


def test_the_embedded_servers_refuse_a_chosen_port_that_is_taken(
    taken: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRIPTOPIPE_PG_PORT", str(taken))
    with pytest.raises(DevServerError, match=f"port {taken} \\(CRIPTOPIPE_PG_PORT\\)"):
        servers.up(tmp_path / ".criptopipe")
    assert not (tmp_path / ".criptopipe" / "postgres" / "data").exists()  # nothing started


@pytest.mark.parametrize(
    ("command", "variable"),
    [("dev", "CRIPTOPIPE_UI_PORT"), ("dashboard", "CRIPTOPIPE_DASHBOARD_PORT")],
)
def test_ui_and_dashboard_say_who_holds_their_port(
    command: str,
    variable: str,
    taken: int,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Even an unset (default) port: people open that URL, so it never moves silently."""
    monkeypatch.setenv(variable, str(taken))
    assert cli.main([command]) == 1
    out = capsys.readouterr().out.strip()
    assert "\n" not in out and out.startswith(f"error: port {taken} ({variable})")
    assert f"`make {command} {variable}=" in out
    assert not (project / ".criptopipe" / "processes").exists()


def test_make_help_says_what_runs() -> None:
    text = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    lines = {line.split()[1]: line for line in text.splitlines() if line.startswith("  make ")}
    assert "the latest closed UTC day's snapshots" in lines["run"]
    assert "exchange candles and daily prices" in lines["run"]
    assert "today" not in text
    ui, dash = local.UI, local.DASHBOARD
    assert f"http://127.0.0.1:{ui.default} ({ui.variable})" in lines["dev"]
    assert f"http://127.0.0.1:{dash.default} ({dash.variable})" in lines["dashboard"]
    for started in ("UI and daemon", "dashboard", "local servers", "sandbox"):
        assert started in lines["stop"]
