"""The local commands as `make` runs them, in a project folder of their own: `criptopipe run`
says SANDBOX only when the data is synthetic and refuses real CoinCap without a key in one line;
`fill-gaps` prints the gaps it found, makes no call when there are none, and prints what it
spent; `criptopipe stop` (make stop) ends the Dagster UI, its daemon and the dashboard."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psutil
import psycopg
from psycopg import sql

from criptopipe import days
from criptopipe.local.ports import free_port, port_open
from criptopipe_tests.e2e import dagster_ui as ui
from criptopipe_tests.e2e.conftest import ROOT, Project


def _folder(tmp_path: Path) -> Path:
    """A project folder: the instance file and workspace `make run` / `make dev` use."""
    folder = tmp_path / "project"
    folder.mkdir()
    folder.chmod(0o755)
    for name in ("dagster.yaml", "workspace.yaml"):
        shutil.copy(ROOT / name, folder / name)
    return folder


def _cli(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "criptopipe.cli", *args],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_real_coincap_without_a_key_is_one_line_and_no_sandbox_banner(
    servers: dict[str, str], tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COINCAP_", "CRIPTOPIPE_"))}
    env |= {
        "DATABASE_URL": servers["postgres"],
        "MONGODB_URI": servers["mongo"],
        "COINCAP_BASE_URL": "https://rest.coincap.io/v3",
    }
    res = _cli(_folder(tmp_path), env, "run", "--days", "1")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "SANDBOX" not in res.stdout + res.stderr and "Traceback" not in res.stdout + res.stderr
    (line,) = res.stdout.splitlines()
    assert line.startswith("error: COINCAP_API_KEY is not set and COINCAP_BASE_URL=https://")
    assert "unset COINCAP_BASE_URL" in line


def test_run_on_a_sandbox_url_then_fill_gaps(project: Project, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    env = {**os.environ, **project.env}
    res = _cli(folder, env, "run", "--days", "2")
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    out = res.stdout
    assert "SANDBOX MODE: every price below is SYNTHETIC" in out  # the URL is a sandbox's
    assert re.search(r"asset_history \S+ \(2 days, one range run\)", out), out
    spent = re.search(r"CoinCap spend this run: (\d+) requests, (\d+) credits", out)
    assert spent and int(spent[2]) == project.sandbox.stats()["credits"], out

    last = days.latest_closed()
    span = f"{last - timedelta(days=1)}...{last}"
    project.sandbox.reset()
    for coins in (project.env["CRIPTOPIPE_COINS"], ""):  # "": the latest raw_assets' coins
        res = _cli(
            folder, {**env, "CRIPTOPIPE_COINS": coins}, "fill-gaps", "--partition-range", span
        )
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
        assert "asset_history: gaps found: none" in res.stdout
        assert "no run started, no CoinCap call made" in res.stdout
    assert project.sandbox.stats()["calls"] == 0

    with psycopg.connect(project.pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DELETE FROM {}.asset_history WHERE coin_id IN ('bitcoin', 'solana')").format(
                sql.Identifier(project.schema)
            )
        )
    res = _cli(folder, env, "fill-gaps", "--partition-range", span)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    out = res.stdout
    assert "gaps found: 2 gaps covering 4 (coin, day) pairs in 2 coins" in out
    assert f"  bitcoin {last - timedelta(days=1)}..{last} (2 days)" in out
    assert "filled 4 (coin, day) pairs of 4" in out
    stats = project.sandbox.stats()
    history = [r for r in stats["requests"] if "/history" in r["path"]]
    assert len(history) == stats["calls"] == 2  # one request per gap, no resolve call
    assert f"CoinCap spend this run: 2 requests, {stats['credits']} credits" in out


def _gone(pids: list[int]) -> bool:
    def dead(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    return all(dead(pid) for pid in pids)


def test_stop_ends_the_ui_its_daemon_and_the_dashboard(
    servers: dict[str, str], pg_schema: str, tmp_path: Path
) -> None:
    folder = _folder(tmp_path)
    env = {
        **os.environ,
        **ui.instance_env(servers, tmp_path / "home", ROOT / "dagster.yaml"),
        "DATABASE_URL": servers["postgres"],
        "MONGODB_URI": servers["mongo"],
        "CRIPTOPIPE_PG_SCHEMA": pg_schema,
        "COINCAP_API_KEY": "test",
        "COINCAP_BASE_URL": "http://127.0.0.1:9/v3",  # never called: nothing runs here
        "CRIPTOPIPE_UI_PORT": str(free_port()),
        "CRIPTOPIPE_DASHBOARD_PORT": str(free_port()),
    }
    started: list[subprocess.Popen[bytes]] = []
    try:
        for command in ("dev", "dashboard"):  # as `make dev` and `make dashboard` start them
            started.append(
                subprocess.Popen(
                    [sys.executable, "-m", "criptopipe.cli", command],
                    env=env,
                    cwd=folder,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        ui_url = f"http://127.0.0.1:{env['CRIPTOPIPE_UI_PORT']}"
        ui.wait_http(f"{ui_url}/server_info", started[0])
        ui.wait_http(f"http://127.0.0.1:{env['CRIPTOPIPE_DASHBOARD_PORT']}/_stcore/health")
        tree = [started[0].pid, *(p.pid for p in psutil.Process(started[0].pid).children(True))]
        assert len(tree) >= 3, "dagster dev runs a webserver and a daemon"
        # the dashboard listens on this machine only
        listening = [
            c.laddr
            for c in psutil.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN
            and c.laddr.port == int(env["CRIPTOPIPE_DASHBOARD_PORT"])
        ]
        assert listening and {a.ip for a in listening} == {"127.0.0.1"}, listening

        again = _cli(folder, env, "dev")
        assert again.returncode == 1
        assert (
            f"Dagster UI and daemon already runs at {ui_url} (pid {started[0].pid})" in again.stdout
        )

        stop = _cli(folder, env, "stop")
        assert stop.returncode == 0, stop.stdout + stop.stderr
        assert f"Dagster UI and daemon (pid {started[0].pid})" in stop.stdout
        assert f"dashboard (pid {started[1].pid})" in stop.stdout
        for proc in started:
            proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while not _gone(tree) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _gone(tree), [p for p in tree if psutil.pid_exists(p)]
        for port in (env["CRIPTOPIPE_UI_PORT"], env["CRIPTOPIPE_DASHBOARD_PORT"]):
            assert not port_open(int(port))
        assert "nothing was running" in _cli(folder, env, "stop").stdout
    finally:
        ui.stop(*started)
