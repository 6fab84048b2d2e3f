"""The asset checks through Dagster on real servers: each passes on data the assets wrote and
fails on data broken on purpose (blocking ERROR for structural rules, WARN for the rest), and
every verdict lands in coincap.check_results.

Which breakages can really happen in the stores decides how each is provoked: asset_history's
price is NOT NULL (so its null-price branch is shown on raw_assets, where it is nullable) and a
duplicate key needs the primary key dropped first.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import dagster as dg
import psycopg
from psycopg import sql

from criptopipe.datasets import ASSET_HISTORY
from criptopipe.defs.assets.coincap import asset_history, market_snapshots, raw_assets
from criptopipe.defs.checks import quality_checks
from criptopipe.defs.partitions import daily_partitions
from criptopipe.defs.resources import (
    CoinUniverseResource,
)

DAY = "2024-03-05"
HISTORY_CHECKS = {
    "no_duplicate_keys",
    "stores_agree",
    "valid_prices",
    "complete_days",
    "empty_answers",
}


def _evaluations(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data  # type: ignore[union-attr]
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {name: ev.passed for name, ev in _evaluations(result).items()}


def _run_checks(
    resources: dict[str, Any], asset: dg.AssetsDefinition, **kwargs: Any
) -> dg.ExecuteInProcessResult:
    """Run only the checks of `asset` (as the UI's "Execute checks" does), for a partition or a
    range given by tags."""
    job = dg.define_asset_job(
        "checks_only",
        selection=dg.AssetSelection.checks_for_assets(asset),
        partitions_def=daily_partitions,
    )
    definitions = dg.Definitions(
        assets=[asset_history, raw_assets, market_snapshots],
        asset_checks=quality_checks,
        jobs=[job],
        resources=resources,
    )
    return definitions.resolve_job_def("checks_only").execute_in_process(
        raise_on_error=False, **kwargs
    )


def _history_checks(resources: dict[str, Any]) -> dict[str, bool]:
    return _checks(_run_checks(resources, asset_history, tags={"dagster/partition": DAY}))


def _sql(
    pg_url: str, schema: str, statement: str, *params: Any, table: str = "asset_history"
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL(statement).format(t=sql.Identifier(schema, table)), params)


def _logged(pg_url: str, schema: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(
            sql.SQL(
                "SELECT asset, check_name, partition_key, passed, severity, metadata "
                "FROM {} ORDER BY id"
            ).format(sql.Identifier(schema, "check_results"))
        ).fetchall()


def test_checks_pass_on_good_data_and_fail_on_broken_data(
    resources: dict[str, Any], pg_url: str, pg_schema: str
) -> None:
    first = dg.materialize(
        [asset_history, *quality_checks],
        selection=dg.AssetSelection.assets(asset_history)
        | dg.AssetSelection.checks_for_assets(asset_history),
        partition_key=DAY,
        resources=resources,
    )
    assert _checks(first) == {name: True for name in HISTORY_CHECKS | {"price_jumps"}}
    # every verdict is in coincap.check_results for the dashboard, with its partition
    logged = _logged(pg_url, pg_schema)
    assert {(r[0], r[1], r[2], r[3]) for r in logged} == {
        ("asset_history", name, DAY, True) for name in HISTORY_CHECKS | {"price_jumps"}
    }
    assert {r[1]: r[4] for r in logged}["stores_agree"] == "ERROR"
    assert {r[1]: r[4] for r in logged}["price_jumps"] == "WARN"

    # a negative price: blocking, so the checks' run fails
    _sql(pg_url, pg_schema, "UPDATE {t} SET price_usd = -1 WHERE coin_id = 'bitcoin'")
    negative = _run_checks(resources, asset_history, tags={"dagster/partition": DAY})
    assert _checks(negative)["valid_prices"] is False
    assert _evaluations(negative)["valid_prices"].metadata["negative_prices"].value == 1

    # a ten-fold day: the previous day is needed for a jump; both days loaded afresh
    dg.materialize(
        [asset_history],
        resources=resources,
        tags={
            "dagster/asset_partition_range_start": "2024-03-04",
            "dagster/asset_partition_range_end": DAY,
        },
    )
    _sql(
        pg_url,
        pg_schema,
        "UPDATE {t} SET price_usd = price_usd * 10 WHERE coin_id = 'ethereum' AND day = %s",
        date(2024, 3, 5),
    )
    jumps = _evaluations(_run_checks(resources, asset_history, tags={"dagster/partition": DAY}))
    assert jumps["price_jumps"].passed is False
    assert jumps["price_jumps"].severity == dg.AssetCheckSeverity.WARN
    assert [j["coin"] for j in jumps["price_jumps"].metadata["jumps"].value] == ["ethereum"]

    # MongoDB lost a document
    mongo = resources["mongo"].store()
    mongo.collection(ASSET_HISTORY).delete_one({"_id": "solana|2024-03-05"})
    assert _history_checks(resources)["stores_agree"] is False

    # the same day gone from PostgreSQL too: the stores agree again, the day is a hole
    _sql(
        pg_url, pg_schema, "DELETE FROM {t} WHERE coin_id = 'solana' AND day = %s", date(2024, 3, 5)
    )
    verdicts = _history_checks(resources)
    assert verdicts["stores_agree"] is True and verdicts["complete_days"] is False

    # a duplicate key can only exist in a table whose primary key someone dropped
    assert verdicts["no_duplicate_keys"] is True
    _sql(pg_url, pg_schema, "ALTER TABLE {t} DROP CONSTRAINT asset_history_pkey")
    _sql(pg_url, pg_schema, "INSERT INTO {t} SELECT * FROM {t} WHERE coin_id = 'bitcoin'")
    assert _history_checks(resources)["no_duplicate_keys"] is False


def test_a_failed_blocking_check_fails_the_run_a_warning_does_not(
    resources: dict[str, Any], pg_url: str, pg_schema: str
) -> None:
    dg.materialize([asset_history], partition_key=DAY, resources=resources)
    _sql(pg_url, pg_schema, "DELETE FROM {t} WHERE coin_id = 'solana'")  # a hole: WARN
    mongo = resources["mongo"].store()
    mongo.collection(ASSET_HISTORY).delete_many({"coin_id": "solana"})
    warned = _run_checks(resources, asset_history, tags={"dagster/partition": DAY})
    assert _checks(warned)["complete_days"] is False and warned.success

    _sql(pg_url, pg_schema, "UPDATE {t} SET price_usd = -1 WHERE coin_id = 'bitcoin'")
    blocked = _run_checks(resources, asset_history, tags={"dagster/partition": DAY})
    assert _checks(blocked)["valid_prices"] is False and not blocked.success


def test_null_prices_fail_where_the_schema_allows_them(
    resources: dict[str, Any], pg_url: str, pg_schema: str
) -> None:
    latest = str(datetime.now(timezone.utc).date() - timedelta(days=1))
    good = dg.materialize(
        [raw_assets, *quality_checks],
        selection=dg.AssetSelection.assets(raw_assets)
        | dg.AssetSelection.checks_for_assets(raw_assets),
        partition_key=latest,
        resources=resources,
    )
    assert _checks(good) == {"no_duplicate_keys": True, "stores_agree": True, "valid_prices": True}
    _sql(
        pg_url,
        pg_schema,
        "UPDATE {t} SET price_usd = NULL WHERE coin_id = 'ethereum'",
        table="raw_assets",
    )
    bad = _evaluations(_run_checks(resources, raw_assets, tags={"dagster/partition": latest}))
    assert bad["valid_prices"].passed is False
    assert bad["valid_prices"].metadata["null_prices"].value == 1


def test_complete_days_lists_missing_coin_days_over_a_range(
    resources: dict[str, Any], pg_url: str, pg_schema: str
) -> None:
    dg.materialize(
        [asset_history],
        partition_key="2024-03-06",
        resources=resources,
        run_config={"ops": {"asset_history": {"config": {"coins": ["bitcoin"]}}}},
    )
    dg.materialize([asset_history], partition_key="2024-03-07", resources=resources)
    # cardano is tracked but was never loaded: all its days are missing, not silently skipped
    tracked = {
        **resources,
        "universe": CoinUniverseResource(coins=["bitcoin", "ethereum", "solana", "cardano"]),
    }
    result = _run_checks(
        tracked,
        asset_history,
        tags={
            "dagster/asset_partition_range_start": "2024-03-06",
            "dagster/asset_partition_range_end": "2024-03-07",
        },
    )
    # Dagster gets each day's verdict under its own partition; the ops log the whole range
    complete = {
        e.asset_check_evaluation_data.partition: e.asset_check_evaluation_data  # type: ignore[union-attr]
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.check_name == "complete_days"  # type: ignore[union-attr]
    }
    assert {d: ev.passed for d, ev in complete.items()} == {
        "2024-03-06": False,
        "2024-03-07": False,
    }
    assert {ev.severity for ev in complete.values()} == {dg.AssetCheckSeverity.WARN}
    assert complete["2024-03-06"].metadata["missing"].value == {
        "ethereum": ["2024-03-06"],
        "solana": ["2024-03-06"],
        "cardano": ["2024-03-06"],
    }
    assert complete["2024-03-07"].metadata["missing"].value == {"cardano": ["2024-03-07"]}
    assert result.success  # a warning never fails the run
    (logged,) = [r for r in _logged(pg_url, pg_schema) if r[1] == "complete_days"]
    assert logged[2] == "2024-03-06...2024-03-07" and logged[5]["missing_pairs"] == 4


def test_complete_days_follows_a_run_narrowed_to_some_coins(
    resources: dict[str, Any],
) -> None:
    """A new-coin backfill names its coins: the check expects those, not the whole universe."""
    result = dg.materialize(
        [asset_history, *quality_checks],
        selection=dg.AssetSelection.assets(asset_history)
        | dg.AssetSelection.checks_for_assets(asset_history),
        partition_key=DAY,
        resources=resources,
        run_config={"ops": {"asset_history": {"config": {"coins": ["solana"]}}}},
    )
    assert _checks(result)["complete_days"] is True


def test_volume_shares_warn_when_they_do_not_add_up(
    resources: dict[str, Any], pg_url: str, pg_schema: str
) -> None:
    latest = str(datetime.now(timezone.utc).date() - timedelta(days=1))
    resources = {
        **resources,
        "universe": CoinUniverseResource(coins=["ethereum"], markets_per_coin=0),
    }
    ok = dg.materialize(
        [market_snapshots, *quality_checks],
        selection=dg.AssetSelection.assets(market_snapshots)
        | dg.AssetSelection.checks_for_assets(market_snapshots),
        partition_key=latest,
        resources=resources,
    )
    assert _checks(ok) == {
        "no_duplicate_keys": True,
        "stores_agree": True,
        "valid_prices": True,
        "volume_shares": True,
        "empty_answers": True,
    }
    _sql(
        pg_url,
        pg_schema,
        "UPDATE {t} SET volume_percent = volume_percent + 50 "
        "WHERE ctid IN (SELECT ctid FROM {t} LIMIT 1)",
        table="market_snapshots",
    )
    bad = _run_checks(resources, market_snapshots, tags={"dagster/partition": latest})
    shares = _evaluations(bad)["volume_shares"]
    assert shares.passed is False and shares.severity == dg.AssetCheckSeverity.WARN
    assert set(shares.metadata["bad"].value) == {"ethereum"}
