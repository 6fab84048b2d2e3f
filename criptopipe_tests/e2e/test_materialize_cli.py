"""`dagster asset materialize` end to end: sandbox -> assets -> PostgreSQL and MongoDB.

Each test runs the CLI as a subprocess with a Postgres-backed Dagster instance, exactly as a user
would, then reads both stores back and compares them with what the sandbox served.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pandas as pd
import pymongo

from criptopipe.datasets import ASSET_HISTORY, MARKET_SNAPSHOTS, RAW_ASSETS, all_datasets
from criptopipe.storage.mongo import MongoStore
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import Slice
from criptopipe_tests.e2e.conftest import ROOT, Project

COINS = ["bitcoin", "ethereum", "solana"]


def _ok(res) -> None:  # type: ignore[no-untyped-def]
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-8000:]


def _served_history(project: Project, coin: str, first: date, end: date) -> dict[date, str]:
    """What the sandbox serves for a coin's d1 history, straight over HTTP."""
    start_ms = int(datetime(first.year, first.month, first.day, tzinfo=timezone.utc).timestamp())
    end_ms = int(datetime(end.year, end.month, end.day, tzinfo=timezone.utc).timestamp())
    body = httpx.get(
        f"{project.sandbox.base_url}/assets/{coin}/history",
        params={"interval": "d1", "start": start_ms * 1000, "end": end_ms * 1000},
        headers={"Authorization": "Bearer test"},
        timeout=30,
    ).json()
    out = {}
    for point in body["data"]:
        day = datetime.fromtimestamp(point["time"] / 1000, tz=timezone.utc).date()
        if first <= day < end:
            out[day] = point["priceUsd"]
    return out


def _history_calls(project: Project) -> list[dict]:  # type: ignore[type-arg]
    return [r for r in project.sandbox.stats()["requests"] if "/history" in r["path"]]


def test_partition_range_backfill_is_one_request_per_coin_and_exact(project: Project) -> None:
    first, last = date(2024, 1, 1), date(2024, 3, 31)
    res = project.materialize("asset_history", "--partition-range", f"{first}...{last}")
    _ok(res)

    calls = _history_calls(project)
    assert sorted(c["path"].split("/")[-2] for c in calls) == sorted(COINS)

    pg = PostgresStore(project.pg_url, schema=project.schema)
    slc = Slice.days(first, last)
    stored = pg.read_slice(ASSET_HISTORY, slc)
    served = {c: _served_history(project, c, first, last + timedelta(days=1)) for c in COINS}
    for coin in COINS:
        rows = stored[stored["coin_id"] == coin]
        got = {r.day: r.price_usd for r in rows.itertuples()}
        # equal to the last decimal: Decimal('1.10') == Decimal('1.1') would hide a float trip
        assert {d: str(v) for d, v in got.items()} == served[coin], coin
    mongo_docs = MongoStore(project.mongo_uri).read_slice(ASSET_HISTORY, slc)
    assert {(d["coin_id"], d["day"].date(), d["record"]["priceUsd"]) for d in mongo_docs} == {
        (coin, day, price) for coin in COINS for day, price in served[coin].items()
    }

    # a second run replaces, never duplicates: same keys, same values
    before = stored.drop(columns=["fetched_at"]).sort_values(["coin_id", "day"])
    _ok(project.materialize("asset_history", "--partition-range", f"{first}...{last}"))
    after = pg.read_slice(ASSET_HISTORY, slc).drop(columns=["fetched_at"])
    pd.testing.assert_frame_equal(
        before.reset_index(drop=True), after.sort_values(["coin_id", "day"]).reset_index(drop=True)
    )
    assert len(MongoStore(project.mongo_uri).read_slice(ASSET_HISTORY, slc)) == len(stored)


def test_single_partition_of_each_asset(project: Project) -> None:
    latest = datetime.now(timezone.utc).date() - timedelta(days=1)
    _ok(project.materialize("asset_history", "--partition", "2024-02-29"))
    _ok(project.materialize("raw_assets", "--partition", str(latest)))
    _ok(project.materialize("market_snapshots", "--partition", str(latest)))

    pg = PostgresStore(project.pg_url, schema=project.schema)
    mongo = MongoStore(project.mongo_uri)
    history = pg.read_slice(ASSET_HISTORY, Slice.days(date(2024, 2, 29), date(2024, 2, 29)))
    assert sorted(history["coin_id"]) == sorted(COINS)
    assets = pg.read_slice(RAW_ASSETS, Slice.days(latest, latest))
    assert sorted(assets["coin_id"]) == sorted(COINS)
    markets = pg.read_slice(MARKET_SNAPSHOTS, Slice.days(latest, latest))
    assert set(markets["coin_id"]) == set(COINS)
    for ds, frame in ((RAW_ASSETS, assets), (MARKET_SNAPSHOTS, markets)):
        assert mongo.keys(ds, Slice.days(latest, latest)) == pg.keys(ds, Slice.days(latest, latest))
        assert len(frame) > 0
    # the raw archive holds CoinCap's record as sent, strings and unknown fields included
    doc = (
        pymongo.MongoClient(project.mongo_uri)
        .get_default_database()["raw_assets"]
        .find_one({"coin_id": "bitcoin"})
    )
    assert doc is not None and isinstance(doc["record"]["priceUsd"], str)
    assert "tokens" in doc["record"] and "apiKey" not in doc["request_path"]


def test_old_snapshot_fails_clearly_without_archive(project: Project) -> None:
    res = project.materialize("raw_assets", "--partition", "2024-01-15")
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "CoinCap keeps no history for raw_assets" in out
    assert project.sandbox.stats()["calls"] == 0


def test_old_snapshot_is_rebuilt_from_archive_with_no_api_call(project: Project) -> None:
    latest = datetime.now(timezone.utc).date() - timedelta(days=1)
    _ok(project.materialize("raw_assets,market_snapshots", "--partition", str(latest)))
    mongo = MongoStore(project.mongo_uri)
    pg = PostgresStore(project.pg_url, schema=project.schema)
    archived = {
        ds.name: mongo.read_slice(ds, Slice.days(latest, latest))
        for ds in (RAW_ASSETS, MARKET_SNAPSHOTS)
    }
    expected = {
        ds.name: pg.read_slice(ds, Slice.days(latest, latest))
        for ds in (RAW_ASSETS, MARKET_SNAPSHOTS)
    }

    # Dagster's view: the archive is all there is for an older day. Age the documents by moving
    # them to an old day, wipe Postgres' copy, and rebuild with the sandbox's counter at zero.
    old = date(2024, 6, 1)
    db = pymongo.MongoClient(project.mongo_uri).get_default_database()
    old_dt = datetime(old.year, old.month, old.day, tzinfo=timezone.utc)
    for name, docs in archived.items():
        for doc in docs:
            doc["_id"] = doc["_id"].replace(str(latest), str(old))
            doc["snapshot_date"] = old_dt
        db[name].insert_many(docs)
    project.sandbox.reset()

    res = project.materialize("raw_assets,market_snapshots", "--partition", str(old))
    _ok(res)
    assert project.sandbox.stats()["calls"] == 0
    for ds in (RAW_ASSETS, MARKET_SNAPSHOTS):
        rebuilt = pg.read_slice(ds, Slice.days(old, old)).drop(columns=["snapshot_date"])
        original = expected[ds.name].drop(columns=["snapshot_date"])
        key = [c for c in ds.key if c != "snapshot_date"]
        pd.testing.assert_frame_equal(
            original.sort_values(key).reset_index(drop=True),
            rebuilt.sort_values(key).reset_index(drop=True),
        )


def test_missing_key_against_coincap_fails_before_any_request(project: Project) -> None:
    res = project.materialize(
        "asset_history",
        "--partition",
        "2024-02-01",
        extra_env={"COINCAP_API_KEY": "", "COINCAP_BASE_URL": ""},
    )
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "COINCAP_API_KEY is not set" in out
    assert "sandbox" in out


def test_unknown_coin_fails_naming_it(project: Project) -> None:
    res = project.materialize(
        "asset_history",
        "--partition",
        "2024-02-01",
        extra_env={"CRIPTOPIPE_COINS": "bitcoin,no-such-coin"},
    )
    assert res.returncode != 0
    assert "no-such-coin" in res.stdout + res.stderr
    pg = PostgresStore(project.pg_url, schema=project.schema)
    pg.ensure_schema(all_datasets())
    assert pg.keys(ASSET_HISTORY, Slice.days(date(2024, 2, 1), date(2024, 2, 1))) == set()


def test_dg_sees_the_project_and_launches_a_range_as_one_run(project: Project) -> None:
    """`dg` (the `[tool.dg]` project) loads the same definitions and launches a partition
    range as one run with one ranged request per coin, as `dagster asset materialize` does."""
    dg_cli = str(Path(sys.executable).parent / "dg")
    env = {**os.environ, **project.env}
    check = subprocess.run(
        [dg_cli, "check", "defs"], env=env, capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-4000:]
    assert "All definitions loaded successfully" in check.stdout + check.stderr
    res = subprocess.run(
        [
            dg_cli,
            "launch",
            "--assets",
            "asset_history",
            "--partition-range",
            "2024-01-01...2024-01-31",
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    _ok(res)
    assert sorted(c["path"].split("/")[-2] for c in _history_calls(project)) == sorted(COINS)
    pg = PostgresStore(project.pg_url, schema=project.schema)
    assert pg.count(ASSET_HISTORY, Slice.days(date(2024, 1, 1), date(2024, 1, 31))) == 31 * 3
