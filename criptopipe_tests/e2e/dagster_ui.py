"""Talking to a running Dagster webserver the way the UI does: GraphQL over HTTP."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
  }
}
"""
STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status runs(limit: 20) { runId status } error { message } }
    ... on PythonError { message }
  }
}
"""


def wait_http(url: str, proc: subprocess.Popen[Any] | None = None, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=3).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout:.0f}s")


def graphql(base: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    resp = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables}, timeout=60)
    resp.raise_for_status()
    body = resp.json()
    assert "errors" not in body, body["errors"]
    return body["data"]  # type: ignore[no-any-return]


def launch_backfill(base: str, asset: str, start: str, end: str) -> str:
    params = {
        "partitionsByAssets": [
            {"assetKey": {"path": [asset]}, "partitions": {"range": {"start": start, "end": end}}}
        ],
        "title": f"{asset} {start}...{end}",
    }
    result = graphql(base, LAUNCH, {"params": params})["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    return str(result["backfillId"])


def wait_backfill(
    base: str, backfill_id: str, timeout: float = 300, each: Callable[[], None] | None = None
) -> dict[str, Any]:
    """The backfill once it has finished; `each` is called at every poll (a GIF's frame)."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        if each is not None:
            each()
        last = graphql(base, STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        if last.get("status") in {
            "COMPLETED",
            "COMPLETED_SUCCESS",
            "COMPLETED_FAILED",
            "FAILED",
            "CANCELED",
        }:
            return last
        time.sleep(2)
    raise AssertionError(f"backfill {backfill_id} did not finish in {timeout:.0f}s: {last}")


def instance_env(servers: dict[str, str], home: Path, dagster_yaml: Path) -> dict[str, str]:
    """A DAGSTER_HOME with `dagster_yaml`, instance storage in the test server's dagster DB."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(dagster_yaml, home / "dagster.yaml")
    pg = urlsplit(servers["postgres"])
    db = urlsplit(servers.get("postgres_dagster", servers["postgres"])).path.lstrip("/")
    return {
        "DAGSTER_HOME": str(home),
        "DAGSTER_ARTIFACTS_DIR": str(home / "artifacts"),
        "DAGSTER_COMPUTE_LOGS_DIR": str(home / "logs"),
        "DAGSTER_PG_HOST": pg.hostname or "127.0.0.1",
        "DAGSTER_PG_PORT": str(pg.port or 5432),
        "DAGSTER_PG_USER": pg.username or "postgres",
        "DAGSTER_PG_PASSWORD": pg.password or "",
        "DAGSTER_PG_DB": db,
    }


def stop(*procs: subprocess.Popen[Any]) -> None:
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, 15)
            except ProcessLookupError:
                pass
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)


@contextlib.contextmanager
def instance_for(env: dict[str, str]) -> Iterator[Any]:
    """The Dagster instance `env` points at (DAGSTER_HOME and the DAGSTER_PG_* its file reads),
    with the process environment restored afterwards."""
    from dagster import DagsterInstance

    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        with DagsterInstance.get() as instance:
            yield instance
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def rendered_edges(page: Any) -> set[tuple[str, str]]:
    """The asset graph's edges as the page draws them: each arrow's two ends matched to the
    boxes of the nodes it joins (the SVG names neither). An asset box names its asset in its
    text (a collapsed group's in its tooltip); the smallest box at an end is the asset, not the
    group drawn around it."""
    drawn = page.evaluate(
        """() => {
          const nodes = Array.from(document.querySelectorAll('svg foreignObject')).map(f => ({
            name: f.querySelector('[data-tooltip]')?.getAttribute('data-tooltip')
              || ((f.textContent || '').trim().match(/^[a-z0-9_]+/) || [null])[0],
            x: +f.getAttribute('x'), y: +f.getAttribute('y'),
            w: +f.getAttribute('width'), h: +f.getAttribute('height')}));
          const edges = Array.from(document.querySelectorAll('svg path[marker-end]')).map(p => {
            const n = p.getAttribute('d').match(/-?[0-9.]+/g).map(Number);
            return [n[0], n[1], n[n.length - 2], n[n.length - 1]];
          });
          return {nodes, edges};
        }"""
    )

    def node_at(x: float, y: float, side: str) -> str:
        found = [
            n
            for n in drawn["nodes"]
            if abs((n["x"] + n["w"] if side == "right" else n["x"]) - x) <= 12
            and n["y"] <= y <= n["y"] + n["h"]
        ]
        if not found:
            raise AssertionError(f"no node drawn at the {side} end ({x}, {y}): {drawn['nodes']}")
        return str(min(found, key=lambda n: n["w"] * n["h"])["name"])

    return {
        (node_at(x1, y1, "right"), node_at(x2, y2, "left")) for x1, y1, x2, y2 in drawn["edges"]
    }


def expand_all_groups(page: Any) -> None:
    """The global lineage draws each group collapsed: its background menu expands them all."""
    box = page.viewport_size or {"width": 1440, "height": 900}
    page.mouse.click(box["width"] - 140, box["height"] - 200, button="right")
    page.locator("text=Expand all groups >> visible=true").first.click()
