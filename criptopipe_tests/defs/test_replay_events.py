"""`criptopipe replay` tells Dagster what it rebuilt: the command as users run it (in process,
through its entry point), then the instance's record of the asset, read as the UI reads it."""

from __future__ import annotations

from datetime import date
from typing import Any

import dagster as dg
import pytest

from criptopipe import cli
from criptopipe.datasets import ASSET_HISTORY
from criptopipe.defs.assets.coincap import asset_history
from criptopipe.storage.slices import Slice

RANGE = {
    "dagster/asset_partition_range_start": "2024-04-01",
    "dagster/asset_partition_range_end": "2024-04-03",
}


def test_replay_records_a_materialization_per_rebuilt_day(
    resources: dict[str, Any],
    pg_url: str,
    pg_schema: str,
    mongo_url: str,
    mongo_db: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert dg.materialize([asset_history], resources=resources, tags=RANGE).success
    # the archive lost 2024-04-02: replay leaves that day alone, and says nothing of it
    mongo = resources["mongo"].store()
    lost = Slice.days(date(2024, 4, 2), date(2024, 4, 2))
    mongo.collection(ASSET_HISTORY).delete_many(lost.mongo_filter(ASSET_HISTORY))
    for name, value in {
        "DATABASE_URL": pg_url,
        "MONGODB_URI": f"{mongo_url.rsplit('/', 1)[0]}/{mongo_db}",
        "CRIPTOPIPE_PG_SCHEMA": pg_schema,
    }.items():
        monkeypatch.setenv(name, value)
    with dg.instance_for_test() as instance:  # DAGSTER_HOME: the instance the UI reads
        code = cli.main(
            ["replay", "--select", "asset_history", "--partition-range", "2024-04-01...2024-04-03"]
        )
        assert code == 0
        assert "2 rebuilt partition(s) recorded in Dagster" in capsys.readouterr().out
        records = instance.fetch_materializations(asset_history.key, limit=10).records
    by_day = {r.partition_key: r.asset_materialization for r in records}
    assert sorted(by_day) == ["2024-04-01", "2024-04-03"]
    for mat in by_day.values():
        assert mat is not None
        assert mat.metadata["rows"].value == 3 and mat.metadata["requests"].value == 0
        assert mat.metadata["rebuilt_from"].value == "MongoDB raw archive"
        assert mat.metadata["dagster/row_count"].value == 9  # the table, its untouched day too
    assert all(r.run_id == "" for r in records)  # runless: replay is no Dagster run
