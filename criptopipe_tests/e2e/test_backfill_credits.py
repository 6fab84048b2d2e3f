"""Backfills at the physical minimum: the planner against the sandbox's counter, the budget
guard, replay from the archive and fill-gaps -- end to end on real servers, through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta

import psycopg
from psycopg import sql

from criptopipe.datasets import ASSET_HISTORY, MARKET_SNAPSHOTS, RAW_ASSETS
from criptopipe.pipeline.ingest import find_gaps
from criptopipe.sources.coincap.sandbox import SandboxServer
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import Slice
from criptopipe_tests.e2e.conftest import ROOT, Project


def _ok(res: subprocess.CompletedProcess[str]) -> None:
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-8000:]


def _cli(project: Project, *args: str, extra_env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    env = {**os.environ, **project.env, **(extra_env or {})}
    for key, value in (extra_env or {}).items():
        if value == "":
            env.pop(key)
    return subprocess.run(
        [sys.executable, "-m", "criptopipe.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=str(ROOT),
    )


def _planned_credits(stdout: str) -> int:
    total = [line for line in stdout.splitlines() if line.startswith("total")]
    assert total, stdout
    return int(total[0].split()[-1].replace(",", ""))


def test_plan_is_within_ten_percent_of_what_a_year_of_top_100_costs(project: Project) -> None:
    first, last = date(2024, 1, 1), date(2024, 12, 30)  # 365 days
    with SandboxServer(port=0, key="test", coins=150) as big:
        env = {"COINCAP_BASE_URL": big.base_url, "CRIPTOPIPE_COINS": "", "CRIPTOPIPE_TOP_N": "100"}
        plan = _cli(
            project,
            "plan",
            "--select",
            "asset_history",
            "--partition-range",
            f"{first}...{last}",
            extra_env=env,
        )
        _ok(plan)
        planned = _planned_credits(plan.stdout)
        assert big.stats()["calls"] == 0  # planning costs nothing

        _ok(
            project.materialize(
                "asset_history", "--partition-range", f"{first}...{last}", extra_env=env
            )
        )
        stats = big.stats()
    history = [r for r in stats["requests"] if "/history" in r["path"]]
    assert len(history) == 100  # one ranged request per coin: the physical minimum
    assert stats["calls"] == 101  # plus the one asset-list call that resolves the top 100
    assert abs(planned - stats["credits"]) <= 0.10 * stats["credits"], (planned, stats["credits"])


def test_budget_guard_refuses_before_any_call_and_can_be_overridden(project: Project) -> None:
    budget = {"COINCAP_CREDIT_BUDGET": "10"}
    first, last = date(2024, 1, 1), date(2024, 12, 30)
    refused = project.materialize(
        "asset_history", "--partition-range", f"{first}...{last}", extra_env=budget
    )
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "budget of 10" in output and "ignore_budget" in output
    assert project.sandbox.stats()["calls"] == 0

    # a quarter is over the budget too (the override is run on it: a year of Dagster events
    # would only make the test slower)
    quarter = f"{date(2024, 10, 1)}...{last}"
    for window in (f"{first}...{last}", quarter):
        plan = _cli(project, "plan", "--partition-range", window, extra_env=budget)
        assert plan.returncode == 2 and "REFUSED" in plan.stdout, (window, plan.stdout)

    forced = project.materialize(
        "asset_history",
        "--partition-range",
        quarter,
        "--config-json",
        json.dumps({"ops": {"asset_history": {"config": {"ignore_budget": True}}}}),
        extra_env=budget,
    )
    _ok(forced)
    assert project.sandbox.stats()["calls"] == 3


def test_replay_rebuilds_postgres_from_the_archive_with_zero_calls(project: Project) -> None:
    latest = date.today() - timedelta(days=1)
    first = latest - timedelta(days=20)
    _ok(project.materialize("asset_history", "--partition-range", f"{first}...{latest}"))
    _ok(project.materialize("raw_assets,market_snapshots", "--partition", str(latest)))
    pg = PostgresStore(project.pg_url, schema=project.schema)
    slices = {
        ASSET_HISTORY: Slice.days(first, latest),
        RAW_ASSETS: Slice.days(latest, latest),
        MARKET_SNAPSHOTS: Slice.days(latest, latest),
    }
    before = {ds.name: pg.read_slice(ds, slc) for ds, slc in slices.items()}
    assert all(len(frame) for frame in before.values())

    with psycopg.connect(project.pg_url, autocommit=True) as conn:
        for ds in slices:
            conn.execute(
                sql.SQL("DELETE FROM {}.{}").format(
                    sql.Identifier(project.schema), sql.Identifier(ds.name)
                )
            )
    project.sandbox.reset()
    res = _cli(
        project,
        "replay",
        "--select",
        "asset_history,raw_assets,market_snapshots",
        "--partition-range",
        f"{first}...{latest}",
    )
    _ok(res)
    assert project.sandbox.stats()["calls"] == 0
    for ds, slc in slices.items():
        after = pg.read_slice(ds, slc)
        assert after.equals(before[ds.name]), ds.name


def test_fill_gaps_fetches_only_the_missing_ranges(project: Project) -> None:
    first, last = date(2024, 3, 1), date(2024, 3, 31)
    end = last + timedelta(days=1)
    _ok(project.materialize("asset_history", "--partition-range", f"{first}...{last}"))
    pg = PostgresStore(project.pg_url, schema=project.schema)
    full = pg.read_slice(ASSET_HISTORY, Slice(first, end))

    with psycopg.connect(project.pg_url, autocommit=True) as conn:
        table = sql.SQL("{}.{}").format(
            sql.Identifier(project.schema), sql.Identifier("asset_history")
        )
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE coin_id = 'bitcoin' AND day BETWEEN %s AND %s").format(
                table
            ),
            (date(2024, 3, 10), date(2024, 3, 12)),
        )
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE coin_id = 'ethereum' AND day = %s").format(table),
            (date(2024, 3, 20),),
        )
    have = {(str(c), d) for c, d in pg.keys(ASSET_HISTORY, Slice(first, end))}
    expected = find_gaps(["bitcoin", "ethereum", "solana"], first, end, have)
    assert ("bitcoin", date(2024, 3, 10), date(2024, 3, 13)) in expected

    project.sandbox.reset()
    config = {"ops": {"asset_history": {"config": {"fill_gaps": True}}}}
    _ok(
        project.materialize(
            "asset_history",
            "--partition-range",
            f"{first}...{last}",
            "--config-json",
            json.dumps(config),
        )
    )
    history = [r for r in project.sandbox.stats()["requests"] if "/history" in r["path"]]
    assert len(history) == len(expected)  # one request per gap, nothing else re-fetched
    assert sorted(r["path"].split("/")[-2] for r in history) == sorted(c for c, _, _ in expected)
    after = pg.read_slice(ASSET_HISTORY, Slice(first, end))
    compare = ["coin_id", "day", "price_usd", "circulating_supply", "time"]
    assert after[compare].equals(full[compare])
