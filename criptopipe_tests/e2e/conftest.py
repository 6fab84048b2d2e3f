"""Running the project the way users do: `dagster asset materialize` as a subprocess, against
the real servers, the sandbox and a Postgres-backed Dagster instance (the top-level dagster.yaml).

The processes run outside the checkout: Dagster loads `.env` from its working folder, and a
`make run` there leaves one pointing at the project's own servers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from criptopipe.sources.coincap.sandbox import SandboxServer
from criptopipe_tests.e2e.dagster_ui import instance_env
from criptopipe_tests.e2e.made import MadeProject, made_project

ROOT = Path(__file__).resolve().parents[2]


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@dataclass
class Project:
    """One isolated project environment: its own Postgres schema, Mongo database, Dagster home."""

    env: dict[str, str]
    sandbox: SandboxServer
    schema: str
    mongo_uri: str
    pg_url: str
    home: Path
    runs: list[subprocess.CompletedProcess[str]] = field(default_factory=list)

    def _command(self, select: str, *partition: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "dagster",
            "asset",
            "materialize",
            "-m",
            "criptopipe.definitions",
            "--select",
            select,
            *partition,
        ]

    def _env(self, extra_env: dict[str, str] | None) -> dict[str, str]:
        env = {**os.environ, **self.env, **(extra_env or {})}
        for key, value in (extra_env or {}).items():
            if value == "":
                env.pop(key, None)
        return env

    def materialize(
        self, select: str, *partition: str, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            self._command(select, *partition),
            env=self._env(extra_env),
            capture_output=True,
            text=True,
            timeout=600,
            cwd=str(self.home.parent),
        )
        self.runs.append(res)
        return res

    def start(self, select: str, *partition: str, log: Path) -> subprocess.Popen[str]:
        """`dagster asset materialize` in the background, its output (the step logs included,
        as they happen) going to `log`."""
        with log.open("w") as out:
            return subprocess.Popen(
                self._command(select, *partition),
                env=self._env(None),
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=str(self.home.parent),
            )


@pytest.fixture(scope="session")
def made() -> Iterator[MadeProject]:
    """One `make run` for the session, in a copy of the project (README test, UI test)."""
    with made_project() as project:
        yield project


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(port=0, key="test", coins=60) as sb:
        yield sb


@pytest.fixture
def project(
    servers: dict[str, str],
    sandbox: SandboxServer,
    pg_schema: str,
    mongo_db: str,
    tmp_path: Path,
) -> Project:
    sandbox.reset()
    sandbox.set_faults({})
    home = tmp_path / "dagster_home"
    mongo_uri = with_database(servers["mongo"], mongo_db)
    env = {
        **instance_env(servers, home, ROOT / "dagster.yaml"),
        "DATABASE_URL": servers["postgres"],
        "MONGODB_URI": mongo_uri,
        "CRIPTOPIPE_PG_SCHEMA": pg_schema,
        "COINCAP_BASE_URL": sandbox.base_url,
        "COINCAP_API_KEY": "test",
        "CRIPTOPIPE_COINS": "bitcoin,ethereum,solana",
        # the archive tests rebuild snapshot days of 2024
        "CRIPTOPIPE_SNAPSHOT_START": "2024-01-01",
    }
    return Project(
        env=env,
        sandbox=sandbox,
        schema=pg_schema,
        mongo_uri=mongo_uri,
        pg_url=servers["postgres"],
        home=home,
    )
