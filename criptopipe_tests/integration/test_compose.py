"""docker-compose.yml validates, and every service agrees with the project: commands, modules,
files the image copies, ports, environment, health-gated start order."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_compose_file_validates() -> None:
    tool = shutil.which("docker-compose")
    assert tool, "docker-compose is missing: scripts/ensure-system-deps.sh installs it (apt)"
    res = subprocess.run(
        [
            tool,
            "--env-file",
            str(ROOT / ".env.example"),
            "-f",
            str(ROOT / "docker-compose.yml"),
            "config",
            "-q",
        ],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
    )
    assert res.returncode == 0, res.stderr


def test_every_required_service_is_there() -> None:
    assert {"postgres", "mongo", "code", "webserver", "daemon", "dashboard"} <= set(SERVICES)
    assert SERVICES["postgres"]["image"].startswith("postgres:")
    assert SERVICES["mongo"]["image"].startswith("mongo:")


def test_code_server_loads_the_definitions_module() -> None:
    cmd = SERVICES["code"]["command"]
    module = cmd[cmd.index("-m") + 1]
    assert module == "criptopipe.definitions"
    assert (ROOT / (module.replace(".", "/") + ".py")).exists()
    port = cmd[cmd.index("-p") + 1]
    workspace = yaml.safe_load((ROOT / "deploy/workspace.yaml").read_text())
    grpc = workspace["load_from"][0]["grpc_server"]
    assert (grpc["host"], str(grpc["port"])) == ("code", port)


def test_webserver_and_daemon_use_the_workspace_the_image_copies() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    copies = dict(re.findall(r"^COPY (?:--from=\S+ )?(\S+) (\S+)$", dockerfile, re.M))
    for name in ("webserver", "daemon"):
        cmd = SERVICES[name]["command"]
        workspace = cmd[cmd.index("-w") + 1]
        assert copies.get("deploy/workspace.yaml") == workspace
    assert copies.get("deploy/dagster.yaml") == "/opt/dagster/home/dagster.yaml"
    assert "DAGSTER_HOME=/opt/dagster/home" in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M), "the image must not run as root"
    assert dockerfile.count("FROM ") >= 2, "multi-stage build"


def test_dashboard_port_and_app_match_the_readme() -> None:
    cmd = SERVICES["dashboard"]["command"]
    port = cmd[cmd.index("--server.port") + 1]
    assert f"{port}:{port}" in SERVICES["dashboard"]["ports"]
    assert f"localhost:{port}" in (ROOT / "README.md").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"COPY criptopipe/dashboard/app.py {cmd[2]}" in dockerfile
    assert "3000:3000" in SERVICES["webserver"]["ports"]


def test_sandbox_profile_runs_the_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert SERVICES["sandbox"]["command"][0] in scripts
    assert SERVICES["sandbox"]["profiles"] == ["sandbox"]


def test_start_order_is_health_gated() -> None:
    for name, svc in SERVICES.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert cond["condition"] == "service_healthy", (name, dep)
            assert "healthcheck" in SERVICES[dep], dep


@pytest.mark.parametrize("name", ["code", "webserver", "daemon", "dashboard"])
def test_environment_is_documented_in_env_example(name: str) -> None:
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)", text))
    assert used <= documented, used - documented
    env = SERVICES[name]["environment"]
    for key in ("DATABASE_URL", "MONGODB_URI", "DAGSTER_PG_HOST", "COINCAP_API_KEY"):
        assert key in env


def test_volumes_are_named() -> None:
    assert set(COMPOSE["volumes"]) == {"pgdata", "mongodata"}
