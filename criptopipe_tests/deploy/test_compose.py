"""docker-compose.yml validates, and every service agrees with the project: commands, modules,
files the image copies, ports, environment, health-gated start order, the instance files the
containers load, and the scale-out variants (DockerRunLauncher override, Helm values)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._serdes.config_class import ConfigurableClassData

from criptopipe.dashboard import queries
from criptopipe.datasets import all_datasets
from criptopipe.local import postgres as devservers
from criptopipe.local.ports import free_port
from criptopipe.storage import ops_log
from criptopipe.storage.postgres import PostgresStore
from criptopipe_tests.dashboard.fixtures import (
    PROBE_FAILURE,
    assert_dashboard_reads_but_cannot_write,
)

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DOCKER_OVERRIDE = "deploy/docker-run-launcher.compose.yml"
DAGSTER_SERVICES = ("code", "webserver", "daemon")


@cache
def resolved(*files: str) -> dict[str, Any]:
    """The compose model docker-compose itself builds from `files` and .env.example: variables
    substituted, override files merged. Also the validation: a bad file fails here."""
    tool = shutil.which("docker-compose")
    assert tool, "docker-compose is missing: scripts/ensure-system-deps.sh installs it (apt)"
    args = [tool, "--env-file", str(ROOT / ".env.example")]
    for name in files:
        args += ["-f", str(ROOT / name)]
    res = subprocess.run(
        [*args, "config"], capture_output=True, text=True, cwd=str(ROOT), check=False
    )
    assert res.returncode == 0, res.stderr
    model: dict[str, Any] = yaml.safe_load(res.stdout)
    return model


def test_compose_file_validates() -> None:
    model = resolved("docker-compose.yml")
    assert set(model["services"]) == set(SERVICES)


def test_docker_run_launcher_override_validates_and_only_adds_the_launcher_bits() -> None:
    base = resolved("docker-compose.yml")["services"]
    over = resolved("docker-compose.yml", DOCKER_OVERRIDE)["services"]
    for name in ("daemon", "webserver"):
        volumes = {v.split(":")[1] for v in over[name]["volumes"]}
        assert "/var/run/docker.sock" in volumes, name
        assert "/opt/dagster/home/dagster.yaml" in volumes, name
        assert over[name]["group_add"], name
    for name in DAGSTER_SERVICES:
        assert over[name]["environment"]["DAGSTER_CURRENT_IMAGE"] == SERVICES["code"]["image"]
        assert over[name]["command"] == base[name]["command"]


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
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert grpc["location_name"] == pyproject["tool"]["dagster"]["code_location_name"]


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


def test_dashboard_gets_only_read_only_logins() -> None:
    """No CoinCap key, no writer URL, no MongoDB root user: only the reader logins the init
    scripts create, and what the dashboard reads besides (schema, budget, the sources_agree
    warning threshold its Coin page marks)."""
    services = resolved("docker-compose.yml")["services"]
    env = services["dashboard"]["environment"]
    assert set(env) == {
        "DASHBOARD_DATABASE_URL",
        "DASHBOARD_MONGODB_URI",
        "CRIPTOPIPE_PG_SCHEMA",
        "COINCAP_CREDIT_BUDGET",
        "CRIPTOPIPE_SOURCES_WARN_PCT",
    }
    pg = urlsplit(env["DASHBOARD_DATABASE_URL"])
    assert pg.username == "criptopipe_reader" and pg.hostname == "postgres"
    assert pg.password == services["postgres"]["environment"]["DASHBOARD_PASSWORD"]
    init_sql = (ROOT / "deploy/postgres-init.sql").read_text()
    assert f"CREATE ROLE {pg.username} LOGIN PASSWORD :'dashboard_password'" in init_sql
    assert (
        'dashboard_password="$DASHBOARD_PASSWORD"' in (ROOT / "deploy/postgres-init.sh").read_text()
    )

    mongo = urlsplit(env["DASHBOARD_MONGODB_URI"])
    database = mongo.path.lstrip("/")
    assert mongo.username == "criptopipe_reader" and mongo.hostname == "mongo"
    assert parse_qs(mongo.query)["authSource"] == [database]  # where the user is created
    assert mongo.password == services["mongo"]["environment"]["DASHBOARD_MONGO_PASSWORD"]
    script = ROOT / "deploy/mongo-init.js"
    mounted = {v.split(":")[0]: v.split(":")[1] for v in SERVICES["mongo"]["volumes"]}
    assert mounted["./deploy/mongo-init.js"].startswith("/docker-entrypoint-initdb.d/")
    js = script.read_text()
    assert "process.env.DASHBOARD_MONGO_PASSWORD" in js
    assert f'db.getSiblingDB("{database}").createUser(' in js
    assert f'user: "{mongo.username}"' in js
    # MongoDB's built-in read-only role, on that database only
    assert re.findall(r"role: \"(\w+)\", db: \"(\w+)\"", js) == [("read", database)]


def test_sandbox_profile_runs_the_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert SERVICES["sandbox"]["command"][0] in scripts
    assert SERVICES["sandbox"]["profiles"] == ["sandbox"]
    exchanges = SERVICES["exchange-sandbox"]
    assert exchanges["command"][0] in scripts and exchanges["profiles"] == ["exchange-sandbox"]
    port = exchanges["command"][exchanges["command"].index("--port") + 1]
    assert f"{port}:{port}" in exchanges["ports"]
    # the URLs .env.example shows for it are the ones the sandbox serves
    example = (ROOT / ".env.example").read_text()
    assert f"binance=http://exchange-sandbox:{port}/binance" in example


def test_start_order_is_health_gated() -> None:
    for name, svc in SERVICES.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert cond["condition"] == "service_healthy", (name, dep)
            assert "healthcheck" in SERVICES[dep], dep


@pytest.mark.parametrize("name", DAGSTER_SERVICES)
def test_environment_is_documented_in_env_example(name: str) -> None:
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    text = (ROOT / "docker-compose.yml").read_text() + (ROOT / DOCKER_OVERRIDE).read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)", text))
    assert used <= documented, used - documented
    env = SERVICES[name]["environment"]
    for key in ("DATABASE_URL", "MONGODB_URI", "DAGSTER_PG_HOST", "COINCAP_API_KEY"):
        assert key in env
    # the dashboard's variables are documented too, though compose builds them itself
    for key in resolved("docker-compose.yml")["services"]["dashboard"]["environment"]:
        assert (
            key in (ROOT / ".env.example").read_text() and key in (ROOT / "README.md").read_text()
        )


def test_volumes_are_named_and_dagster_storage_is_shared() -> None:
    assert set(COMPOSE["volumes"]) == {"pgdata", "mongodata", "dagster-storage"}
    for name in DAGSTER_SERVICES:
        assert "dagster-storage:/opt/dagster/home/storage" in SERVICES[name]["volumes"], name


def _instance_config(path: Path, env: dict[str, str], tmp: Path, monkeypatch: Any) -> Any:
    """What Dagster makes of `path` as $DAGSTER_HOME/dagster.yaml under `env` (schema, env
    sources, conflicting settings), without connecting to anything."""
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    home = tmp / path.stem
    home.mkdir()
    shutil.copy(path, home / "dagster.yaml")
    config, _ = dagster_instance_config(str(home))
    return config


def _configurable(block: dict[str, Any]) -> Any:
    """The object Dagster builds from a module/class/config block of dagster.yaml."""
    data = ConfigurableClassData(block["module"], block["class"], yaml.safe_dump(block["config"]))
    return data.rehydrate(object)


def test_container_instance_files_load_with_the_compose_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = resolved("docker-compose.yml")["services"]["daemon"]["environment"]
    default = _instance_config(ROOT / "deploy/dagster.yaml", env, tmp_path, monkeypatch)
    coordinator = _configurable(default["run_coordinator"])
    assert isinstance(coordinator, QueuedRunCoordinator)
    queue = coordinator.get_run_queue_config()
    assert queue.max_concurrent_runs == 4  # the compose default of DAGSTER_MAX_CONCURRENT_RUNS
    assert queue.tag_concurrency_limits == [{"key": "dagster/backfill", "limit": 2}]
    assert default["concurrency"]["default_op_concurrency_limit"] == 1
    assert default["run_monitoring"]["enabled"] is True
    # a run that ended (or was failed for a dead worker) never keeps the one coincap slot
    assert default["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
    assert SERVICES["code"]["hostname"]  # run workers' host stays the same when it is recreated
    assert default["run_launcher"]["class"] == "DefaultRunLauncher"
    for kind in ("run_storage", "event_log_storage", "schedule_storage"):
        db = default[kind]["config"]["postgres_db"]
        sourced = {field: env[v["env"]] for field, v in db.items() if isinstance(v, dict)}
        assert sourced["hostname"] in SERVICES, kind  # the compose PostgreSQL, by service name
        assert sourced["db_name"] == "dagster", kind
    # the event log keeps its connection (criptopipe.defs.instance_storage)
    assert default["event_log_storage"]["class"] == "PooledPostgresEventLogStorage"
    assert "CREATE DATABASE dagster" in (ROOT / "deploy/postgres-init.sql").read_text()

    over_env = resolved("docker-compose.yml", DOCKER_OVERRIDE)["services"]["daemon"]["environment"]
    docker = _instance_config(
        ROOT / "deploy/docker-run-launcher.dagster.yaml", over_env, tmp_path, monkeypatch
    )
    assert {k: v for k, v in docker.items() if k != "run_launcher"} == {
        k: v for k, v in default.items() if k != "run_launcher"
    }
    launcher = docker["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_docker", "DockerRunLauncher")
    cfg = launcher["config"]
    assert cfg["network"] == COMPOSE["networks"]["default"]["name"]
    assert set(cfg["env_vars"]) >= set(env) - {"DAGSTER_HOME"}
    storage = COMPOSE["volumes"]["dagster-storage"]["name"]
    assert cfg["container_kwargs"]["volumes"][storage]["bind"] == "/opt/dagster/home/storage"


def test_helm_values_run_the_same_module_and_limits() -> None:
    values = yaml.safe_load((ROOT / "deploy/k8s/values.yaml").read_text())
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    code = SERVICES["code"]["command"]
    assert deployment["codeServerArgs"] == ["-m", code[code.index("-m") + 1]]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    instance = yaml.safe_load((ROOT / "deploy/dagster.yaml").read_text())
    concurrency = values["concurrency"]
    assert (
        concurrency["pools"]["defaultLimit"]
        == (instance["concurrency"]["default_op_concurrency_limit"])
    )
    assert (
        concurrency["runs"]["tagConcurrencyLimits"]
        == (instance["run_coordinator"]["config"]["tag_concurrency_limits"])
    )
    monitoring = values["dagsterDaemon"]["runMonitoring"]
    assert (
        monitoring["freeSlotsAfterRunEndSeconds"]
        == instance["run_monitoring"]["free_slots_after_run_end_seconds"]
    )


@pytest.mark.parametrize("admin", ["superuser", "managed-service admin"])
def test_postgres_init_creates_both_databases_and_a_read_only_dashboard_role(
    admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """deploy/postgres-init.sh on a fresh cluster (roles are cluster-wide, so not on the suite's
    shared server) -- as the postgres image's entrypoint runs it (superuser), and as a managed
    service's admin runs it (CREATEROLE CREATEDB, no superuser) -- then the compose URLs: the
    warehouse role owns both databases and creates the tables; the dashboard role reads them
    and can write nothing."""
    # a folder the `postgres` user can enter (pytest's tmp_path is private to us)
    base = Path(tempfile.mkdtemp(prefix="criptopipe-pginit-"))
    base.chmod(0o755)
    pg = devservers.PostgresServer(base / "pg", free_port(), devservers.find_pg_bin())
    pg.create_databases = lambda *a, **k: None  # type: ignore[method-assign]  # the script's job
    env = resolved("docker-compose.yml")["services"]
    passwords = env["postgres"]["environment"]
    user, password = devservers.PG_USER, devservers.PG_PASSWORD
    try:
        pg.start()
        if admin != "superuser":
            user, password = "cloud_admin", "admin-pw"
            with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
                conn.execute(
                    "CREATE ROLE cloud_admin LOGIN CREATEROLE CREATEDB PASSWORD 'admin-pw'"
                )
        res = subprocess.run(
            ["sh", str(ROOT / "deploy/postgres-init.sh")],
            env={
                "PATH": f"{pg.bin_dir}{os.pathsep}{os.environ['PATH']}",
                "POSTGRES_USER": user,
                "PGHOST": "127.0.0.1",
                "PGPORT": str(pg.port),
                "PGPASSWORD": password,
                "WAREHOUSE_PASSWORD": passwords["WAREHOUSE_PASSWORD"],
                "DASHBOARD_PASSWORD": passwords["DASHBOARD_PASSWORD"],
                "INIT_SQL": str(ROOT / "deploy/postgres-init.sql"),
            },
            capture_output=True,
            text=True,
            check=False,
        )
        assert res.returncode == 0, res.stderr

        def local(url: str) -> str:
            return url.replace("@postgres:5432/", f"@127.0.0.1:{pg.port}/")

        warehouse = local(env["code"]["environment"]["DATABASE_URL"])
        PostgresStore(warehouse, schema="coincap").ensure_schema(all_datasets())
        app = env["code"]["environment"]
        dagster_db = (
            f"postgresql://{app['DAGSTER_PG_USER']}:{app['DAGSTER_PG_PASSWORD']}"
            f"@127.0.0.1:{pg.port}/{app['DAGSTER_PG_DB']}"
        )
        with psycopg.connect(dagster_db, autocommit=True) as conn:
            conn.execute("CREATE TABLE instance_probe (id int)")  # Dagster migrates its own

        # a row in a table the writer created after the init
        ops_log.record_failure(PostgresStore(warehouse, schema="coincap"), PROBE_FAILURE)
        # the dashboard's own connection, from the environment compose gives the dashboard
        dashboard_env = {k: local(str(v)) for k, v in env["dashboard"]["environment"].items()}
        for key, value in dashboard_env.items():
            monkeypatch.setenv(key, value)
        for key in ("DATABASE_URL", "MONGODB_URI"):
            monkeypatch.delenv(key, raising=False)
        assert_dashboard_reads_but_cannot_write(queries.Sources.from_settings())
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)
