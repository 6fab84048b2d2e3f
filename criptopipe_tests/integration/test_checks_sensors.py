"""Checks, schedule and sensors through Dagster's own evaluation, on real servers.

Checks: each fails on data broken on purpose and passes on good data. Schedule and sensors:
evaluated as the daemon would (schedule ticks, sensor contexts with cursors, a failed run).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from criptopipe.assets.coincap import asset_history, market_snapshots, raw_assets
from criptopipe.checks import quality_checks
from criptopipe.definitions import defs
from criptopipe.io_managers import WarehouseIOManager
from criptopipe.partitions import daily_partitions
from criptopipe.resources import (
    CoinCapResource,
    CoinUniverseResource,
    MongoResource,
    PostgresResource,
)
from criptopipe.sandbox import SandboxServer
from criptopipe.sensors import new_coin_sensor, run_failure_alert
from criptopipe.storage import ops_log
from criptopipe.storage.datasets import ASSET_HISTORY

DAY = "2024-03-05"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(port=0, key="test", coins=40) as sb:
        yield sb


@pytest.fixture
def resources(pg_url: str, pg_schema: str, mongo_url: str, mongo_db: str, sandbox: SandboxServer):  # type: ignore[no-untyped-def]
    postgres = PostgresResource(url=pg_url, schema_name=pg_schema)
    mongo = MongoResource(uri=f"{mongo_url.rsplit('/', 1)[0]}/{mongo_db}")
    return {
        "coincap": CoinCapResource(api_key="test", base_url=sandbox.base_url),
        "universe": CoinUniverseResource(coins=["bitcoin", "ethereum", "solana"]),
        "postgres": postgres,
        "mongo": mongo,
        "warehouse_io_manager": WarehouseIOManager(postgres=postgres, mongo=mongo),
    }


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed  # type: ignore[union-attr]
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def _run_checks(
    resources: dict[str, Any], asset: dg.AssetsDefinition, **kwargs: Any
) -> dg.ExecuteInProcessResult:
    """Run only the checks of `asset`, for a partition (or a range via tags)."""
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


def _sql(pg_url: str, schema: str, statement: str, *params: Any) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL(statement).format(t=sql.Identifier(schema, "asset_history")), params)


def test_checks_pass_on_good_data_and_fail_on_broken_data(
    resources, pg_url: str, pg_schema: str
) -> None:  # type: ignore[no-untyped-def]
    first = dg.materialize(
        [asset_history, *quality_checks],
        selection=dg.AssetSelection.assets(asset_history)
        | dg.AssetSelection.checks_for_assets(asset_history),
        partition_key=DAY,
        resources=resources,
    )
    assert _checks(first) == {
        "no_duplicate_keys": True,
        "stores_agree": True,
        "valid_prices": True,
        "complete_days": True,
        "price_jumps": True,
    }
    logged = ops_log  # the verdicts are in coincap.check_results for the dashboard
    with psycopg.connect(pg_url) as conn:
        n = conn.execute(
            sql.SQL("SELECT count(*) FROM {}.check_results WHERE passed").format(
                sql.Identifier(pg_schema)
            )
        ).fetchone()
    assert logged and n and n[0] >= 5

    # a negative price
    _sql(pg_url, pg_schema, "UPDATE {t} SET price_usd = -1 WHERE coin_id = 'bitcoin'")
    assert _history_checks(resources)["valid_prices"] is False
    _sql(pg_url, pg_schema, "UPDATE {t} SET price_usd = 1000 WHERE coin_id = 'bitcoin'")

    # a ten-fold day: the previous day is needed for a jump, load it
    dg.materialize([asset_history], partition_key="2024-03-04", resources=resources)
    _sql(
        pg_url,
        pg_schema,
        "UPDATE {t} SET price_usd = price_usd * 10 WHERE coin_id = 'ethereum' AND day = %s",
        date(2024, 3, 5),
    )
    assert _history_checks(resources)["price_jumps"] is False

    # MongoDB lost a document
    mongo = resources["mongo"].store()
    mongo.collection(ASSET_HISTORY).delete_one({"_id": "solana|2024-03-05"})
    assert _history_checks(resources)["stores_agree"] is False

    # a hole, and a duplicate key in a table whose primary key someone dropped
    _sql(
        pg_url, pg_schema, "DELETE FROM {t} WHERE coin_id = 'solana' AND day = %s", date(2024, 3, 5)
    )
    verdicts = _history_checks(resources)
    assert verdicts["stores_agree"] is True  # both stores now lack solana's day
    _sql(pg_url, pg_schema, "ALTER TABLE {t} DROP CONSTRAINT asset_history_pkey")
    _sql(pg_url, pg_schema, "INSERT INTO {t} SELECT * FROM {t} WHERE coin_id = 'bitcoin'")
    assert _history_checks(resources)["no_duplicate_keys"] is False


def test_complete_days_warns_about_holes(resources, pg_url: str, pg_schema: str) -> None:  # type: ignore[no-untyped-def]
    dg.materialize(
        [asset_history],
        partition_key="2024-03-06",
        resources=resources,
        run_config={"ops": {"asset_history": {"config": {"coins": ["bitcoin"]}}}},
    )
    dg.materialize(
        [asset_history],
        partition_key="2024-03-07",
        resources=resources,
    )
    result = dg.materialize(
        [asset_history, *quality_checks],
        selection=dg.AssetSelection.checks_for_assets(asset_history),
        tags={
            "dagster/asset_partition_range_start": "2024-03-06",
            "dagster/asset_partition_range_end": "2024-03-07",
        },
        resources=resources,
        raise_on_error=False,
    )
    evaluations = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data  # type: ignore[union-attr]
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    complete = evaluations["complete_days"]
    assert complete.passed is False and complete.severity == dg.AssetCheckSeverity.WARN
    assert complete.metadata["missing"].value == {
        "ethereum": ["2024-03-06"],
        "solana": ["2024-03-06"],
    }


def test_volume_shares_warn_when_they_do_not_add_up(resources, pg_url: str, pg_schema: str) -> None:  # type: ignore[no-untyped-def]
    latest = str(datetime.now(timezone.utc).date() - timedelta(days=1))
    resources = {
        **resources,
        "universe": CoinUniverseResource(coins=["ethereum"], markets_per_coin=None),
    }
    ok = dg.materialize(
        [market_snapshots, *quality_checks],
        selection=dg.AssetSelection.assets(market_snapshots)
        | dg.AssetSelection.checks_for_assets(market_snapshots),
        partition_key=latest,
        resources=resources,
    )
    assert _checks(ok)["volume_shares"] is True
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "UPDATE {} SET volume_percent = volume_percent + 50 WHERE ctid IN (SELECT ctid FROM {} LIMIT 1)"
            ).format(
                sql.Identifier(pg_schema, "market_snapshots"),
                sql.Identifier(pg_schema, "market_snapshots"),
            )
        )
    bad = _run_checks(resources, market_snapshots, tags={"dagster/partition": latest})
    assert _checks(bad)["volume_shares"] is False


def test_daily_schedule_requests_the_day_that_just_closed() -> None:
    schedule = defs.get_schedule_def("daily_schedule")
    assert schedule.cron_schedule == "30 0 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 11, 23, 0, 30, tzinfo=timezone.utc),
            repository_def=defs.get_repository_def(),
        )
        requests = schedule.evaluate_tick(context).run_requests or []
    assert [r.partition_key for r in requests] == ["2026-11-22"]


def _snapshot(resources: dict[str, Any], coins: list[str]) -> None:
    latest = str(datetime.now(timezone.utc).date() - timedelta(days=1))
    dg.materialize(
        [raw_assets],
        partition_key=latest,
        resources={**resources, "universe": CoinUniverseResource(coins=coins)},
    )


def test_new_coin_sensor_backfills_only_new_coins_once(resources) -> None:  # type: ignore[no-untyped-def]
    postgres = resources["postgres"]
    with dg.instance_for_test() as instance:

        def tick(cursor: str | None) -> dg.SensorResult:
            ctx = dg.build_sensor_context(
                instance=instance, cursor=cursor, resources={"postgres": postgres}
            )
            return new_coin_sensor(ctx)  # type: ignore[return-value]

        empty = tick(None)
        assert isinstance(empty, dg.SkipReason)
        _snapshot(resources, ["bitcoin", "ethereum"])
        learned = tick(None)
        assert not learned.run_requests and json.loads(learned.cursor or "[]") == [
            "bitcoin",
            "ethereum",
        ]
        _snapshot(resources, ["bitcoin", "ethereum", "solana", "xrp"])
        found = tick(learned.cursor)
        (request,) = found.run_requests or []
        assert request.run_config["ops"]["asset_history"]["config"]["coins"] == ["solana", "xrp"]
        assert request.tags["dagster/asset_partition_range_end"] == str(
            datetime.now(timezone.utc).date() - timedelta(days=1)
        )
        assert request.run_key and request.run_key.startswith("new-coins-")
        again = tick(found.cursor)
        assert not again.run_requests  # once


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.bodies.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Receiver.bodies = []
    monkeypatch.setenv(
        "CRIPTOPIPE_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_address[1]}/hook"
    )
    yield _Receiver.bodies
    server.shutdown()


def test_run_failure_sensor_records_and_alerts(
    resources, webhook, pg_url: str, pg_schema: str
) -> None:  # type: ignore[no-untyped-def]
    broken = {**resources, "universe": CoinUniverseResource(coins=["no-such-coin"])}
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [asset_history],
            partition_key=DAY,
            resources=broken,
            instance=instance,
            raise_on_error=False,
        )
        assert not result.success
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
            resources={"postgres": resources["postgres"]},
        ).for_run_failure()
        run_failure_alert(context)
    (alert,) = webhook
    assert alert["run_id"] == result.run_id and "no-such-coin" in alert["error"]
    assert alert["partition"] == DAY and "asset_history" in alert["assets"]
    (row,) = ops_log.failures(pg_url, pg_schema)
    assert row["run_id"] == result.run_id and row["notified"] is True
    assert "no-such-coin" in row["error"]


def test_freshness_sensor_requests_the_freshness_checks() -> None:
    from criptopipe.checks import freshness_checks
    from criptopipe.sensors import freshness_sensor

    expected = {key for checks in freshness_checks for key in checks.check_keys}
    assert {k.asset_key.to_user_string() for k in expected} == {
        "asset_history",
        "raw_assets",
        "market_snapshots",
    }
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance, repository_def=defs.get_repository_def()
        )
        result = freshness_sensor.evaluate_tick(context)
    requested = {k for r in result.run_requests or [] for k in (r.asset_check_keys or [])}
    assert requested and requested <= expected
