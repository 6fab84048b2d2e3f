"""The definitions as Dagster's UI and catalog read them: lineage from CoinCap, snapshot
partitions that start where snapshots can exist, the catalog's metadata, the key bound to its
environment variable, and a snapshot range the archive cannot fill refused before any call."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from criptopipe import config
from criptopipe.datasets import ASSET_HISTORY, RAW_ASSETS
from criptopipe.definitions import defs as load_defs
from criptopipe.defs.assets.coincap import asset_history, raw_assets
from criptopipe.defs.resources import CoinCapResource
from criptopipe.sources.coincap.sandbox import SandboxServer
from criptopipe.storage.slices import Slice

YESTERDAY = datetime.now(timezone.utc).date() - timedelta(days=1)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("CRIPTOPIPE_SNAPSHOT_START", "COINCAP_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_coincap_is_the_source_upstream_of_each_asset(env: pytest.MonkeyPatch) -> None:
    graph = load_defs().resolve_asset_graph()
    parents = {
        key.to_user_string(): sorted(p.to_user_string() for p in graph.get(key).parent_keys)
        for key in graph.materializable_asset_keys
    }
    assert parents == {
        "asset_history": ["coincap_assets", "coincap_history"],
        "raw_assets": ["coincap_assets"],
        "market_snapshots": ["coincap_assets", "coincap_markets"],
        # the exchanges' candles map coins by the newest snapshot's symbols; the one price
        # truth reads both sources' datasets
        "exchange_candles": ["exchanges_ohlcv", "raw_assets"],
        "daily_prices": ["asset_history", "exchange_candles"],
    }
    sources = {k for k in graph.get_all_asset_keys() if k.path[0].startswith("coincap_")}
    assert len(sources) == 3
    for key in sources:
        node = graph.get(key)
        assert not node.is_materializable and node.kinds == {"coincap"}
        assert node.description and "GET /assets" in node.description
    exchanges = graph.get(dg.AssetKey("exchanges_ohlcv"))
    assert not exchanges.is_materializable and exchanges.kinds == {"ccxt"}


def test_snapshot_partitions_start_at_the_configured_day(env: pytest.MonkeyPatch) -> None:
    start = YESTERDAY - timedelta(days=4)
    env.setenv("CRIPTOPIPE_SNAPSHOT_START", str(start))
    graph = load_defs().resolve_asset_graph()
    for name in ("raw_assets", "market_snapshots"):
        keys = graph.get(dg.AssetKey(name)).partitions_def.get_partition_keys()
        assert keys == [str(start + timedelta(days=i)) for i in range(5)], name
    history = graph.get(asset_history.key).partitions_def.get_partition_keys()
    assert history[0] == "2013-01-01" and history[-1] == str(YESTERDAY)
    # the checks on the snapshot datasets share the configured partitions
    checks = [k for k in graph.asset_check_keys if k.asset_key.path == ["raw_assets"]]
    assert checks and all(
        graph.get(k).partitions_def == graph.get(raw_assets.key).partitions_def for k in checks
    )

    env.delenv("CRIPTOPIPE_SNAPSHOT_START")
    default = load_defs().resolve_asset_graph().get(raw_assets.key).partitions_def
    assert default.get_first_partition_key() == str(config.DEFAULT_SNAPSHOT_START)

    env.setenv("CRIPTOPIPE_SNAPSHOT_START", str(YESTERDAY + timedelta(days=1)))
    with pytest.raises(config.ConfigError, match=r"^CRIPTOPIPE_SNAPSHOT_START=.*closed"):
        load_defs()


def test_the_catalog_holds_schema_owners_and_versions(env: pytest.MonkeyPatch) -> None:
    graph = load_defs().resolve_asset_graph()
    node = graph.get(asset_history.key)
    schema = node.metadata["dagster/column_schema"]
    assert isinstance(schema, dg.TableSchema)
    assert [c.name for c in schema.columns] == ASSET_HISTORY.column_names
    price = next(c for c in schema.columns if c.name == "price_usd")
    assert price.type == "numeric" and "24-hour average" in (price.description or "")
    assert price.constraints.nullable is False and "non-negative" in price.constraints.other
    assert node.owners == ["team:criptopipe"]
    assert node.tags["source"] == "coincap" and node.tags["dataset"] == "series"
    assert node.code_version and node.code_version != graph.get(raw_assets.key).code_version


def test_the_key_is_bound_to_its_environment_variable(env: pytest.MonkeyPatch) -> None:
    env.setenv("COINCAP_API_KEY", "marker-key-4242")
    coincap = load_defs().resources["coincap"]  # type: ignore[index]
    assert isinstance(coincap, CoinCapResource)
    assert isinstance(coincap.api_key, dg.EnvVar) and coincap.api_key == "COINCAP_API_KEY"
    # unset where the definitions load: unbound, so a run fails with criptopipe's own message
    env.delenv("COINCAP_API_KEY")
    assert load_defs().resources["coincap"].api_key is None  # type: ignore[index]


def test_a_materialization_tells_the_catalog_its_table(
    resources: dict[str, Any], pg_url: str, pg_schema: str
) -> None:
    result = dg.materialize(
        [asset_history],
        resources=resources,
        tags={
            "dagster/asset_partition_range_start": "2024-02-01",
            "dagster/asset_partition_range_end": "2024-02-02",
        },
    )
    mats = result.asset_materializations_for_node("asset_history")
    assert len(mats) == 2
    with psycopg.connect(pg_url) as conn:
        database = conn.info.dbname
        (total,) = conn.execute(  # type: ignore[misc]
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(pg_schema, "asset_history"))
        ).fetchone()
    for mat in mats:
        assert mat.metadata["dagster/table_name"].value == f"{database}.{pg_schema}.asset_history"
        assert mat.metadata["dagster/row_count"].value == total == 6
        assert str(mat.metadata["mongo_collection"].value).endswith(".asset_history")


def test_a_snapshot_range_the_archive_cannot_fill_is_refused_before_any_call(
    resources: dict[str, Any], sandbox: SandboxServer
) -> None:
    held, missing = YESTERDAY - timedelta(days=1), YESTERDAY - timedelta(days=2)
    assert dg.materialize([raw_assets], partition_key=str(YESTERDAY), resources=resources).success
    mongo, pg = resources["mongo"].store(), resources["postgres"].store()
    # the archive holds a snapshot of `held` (the latest day's documents, moved back a day)
    docs = mongo.read_slice(RAW_ASSETS, Slice.days(YESTERDAY, YESTERDAY))
    moved = datetime(held.year, held.month, held.day, tzinfo=timezone.utc)
    for doc in docs:
        doc["_id"] = doc["_id"].replace(str(YESTERDAY), str(held))
        doc["snapshot_date"] = moved
    mongo.collection(RAW_ASSETS).insert_many(docs)
    sandbox.reset()

    result = dg.materialize(
        [raw_assets],
        resources=resources,
        raise_on_error=False,
        tags={
            "dagster/asset_partition_range_start": str(missing),
            "dagster/asset_partition_range_end": str(YESTERDAY),
        },
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = str(failure.step_failure_data.error)
    assert f"1 partition(s) of this run ({missing})" in message
    assert f"the days the archive holds ({held})" in message
    assert "Nothing was fetched or written" in message
    assert sandbox.stats()["calls"] == 0  # refused before the live day was fetched
    assert pg.count(RAW_ASSETS, Slice.days(held, held)) == 0  # nor anything rebuilt
