"""Fixtures for tests that run the assets in process: a sandbox and resources pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from criptopipe.sources.coincap.sandbox import SandboxServer
from criptopipe_tests.factories import pipeline_resources


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(port=0, key="test", coins=40) as sb:
        yield sb


@pytest.fixture
def resources(
    pg_url: str, pg_schema: str, mongo_url: str, mongo_db: str, sandbox: SandboxServer
) -> dict[str, Any]:
    """Resources on this test's schema and database, three tracked coins, the sandbox."""
    mongo_uri = f"{mongo_url.rsplit('/', 1)[0]}/{mongo_db}"
    return pipeline_resources(
        pg_url, pg_schema, mongo_uri, sandbox.base_url, ["bitcoin", "ethereum", "solana"]
    )
