"""The schedule and the sensors through Dagster's own evaluation, as the daemon runs them:
schedule ticks, sensor ticks with cursors against a real instance, the run requests validated
against the job and then executed on the real servers and the sandbox, and a run that really
failed recorded and alerted once by the assets' failure hook and the failure sensor (with a
webhook receiver on a local port), a step that used up its retries included."""

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

from criptopipe.definitions import defs as load_defs
from criptopipe.defs.assets import coincap_assets
from criptopipe.defs.assets.coincap import asset_history, raw_assets
from criptopipe.defs.checks import quality_checks
from criptopipe.defs.jobs import history_job
from criptopipe.defs.resources import CoinUniverseResource, PostgresResource
from criptopipe.defs.run_alerts import alert_on_failure
from criptopipe.defs.sensors import CoinCursor, new_coin_sensor, run_failure_alert
from criptopipe.local.ports import free_port
from criptopipe.storage import ops_log
from criptopipe.storage.errors import StorageUnavailableError
from criptopipe.storage.postgres import PostgresStore

DAY = "2024-03-05"
defs = load_defs()


def _yesterday() -> date:
    return datetime.now(timezone.utc).date() - timedelta(days=1)


@pytest.mark.parametrize(
    ("tick", "partition"),
    [
        (datetime(2026, 11, 23, 0, 30, tzinfo=timezone.utc), "2026-11-22"),
        (datetime(2027, 1, 1, 0, 30, tzinfo=timezone.utc), "2026-12-31"),
    ],
)
@pytest.mark.parametrize(
    ("name", "assets"),
    [
        ("daily_history_schedule", {"asset_history"}),
        ("daily_snapshots_schedule", {"raw_assets", "market_snapshots"}),
        ("daily_exchanges_schedule", {"exchange_candles", "daily_prices"}),
    ],
)
def test_daily_schedules_request_the_day_that_just_closed(
    tick: datetime, partition: str, name: str, assets: set[str]
) -> None:
    """Three schedules, one per job (a job holds assets of one partitions definition), together
    covering every asset for the same day; the exchanges' after CoinCap's (the candles map
    coins by the newest snapshot's symbols, the daily prices read the history)."""
    schedule = defs.resolve_schedule_def(name)
    cron = "0 1 * * *" if name == "daily_exchanges_schedule" else "30 0 * * *"
    assert schedule.cron_schedule == cron and schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED  # ships off
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick,
            repository_def=defs.get_repository_def(),
        )
        (request,) = schedule.evaluate_tick(context).run_requests or []
    assert request.partition_key == partition
    job = defs.resolve_job_def(schedule.job_name)
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == assets
    assert dg.validate_run_config(job, request.run_config) is not None


def test_the_daily_schedules_cover_every_asset() -> None:
    covered = {
        key
        for schedule in defs.schedules or []
        for key in defs.resolve_job_def(
            defs.resolve_schedule_def(schedule.name).job_name
        ).asset_layer.selected_asset_keys
    }
    assert covered == set(defs.resolve_asset_graph().materializable_asset_keys)


def test_new_coin_sensor_backfills_only_new_coins_once(
    resources: dict[str, Any], pg_url: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRIPTOPIPE_NEW_COIN_LOOKBACK_DAYS", "3")
    postgres = resources["postgres"]
    with dg.instance_for_test() as instance:

        def tick(cursor: str | None) -> dg.SensorResult | dg.SkipReason:
            ctx = dg.build_sensor_context(
                instance=instance, cursor=cursor, resources={"postgres": postgres}
            )
            return new_coin_sensor(ctx)  # type: ignore[return-value]

        def snapshot(coins: list[str]) -> None:
            dg.materialize(
                [raw_assets],
                partition_key=str(_yesterday()),
                instance=instance,
                resources={**resources, "universe": CoinUniverseResource(coins=coins)},
            )

        assert isinstance(tick(None), dg.SkipReason)  # raw_assets never materialized

        snapshot(["bitcoin", "ethereum"])
        learned = tick(None)
        assert isinstance(learned, dg.SensorResult) and not learned.run_requests
        assert CoinCursor.load(learned.cursor).known == ["bitcoin", "ethereum"]
        # nothing materialized since: the sensor does not even read PostgreSQL
        assert isinstance(tick(learned.cursor), dg.SkipReason)

        snapshot(["bitcoin", "ethereum", "solana", "xrp"])
        found = tick(learned.cursor)
        assert isinstance(found, dg.SensorResult)
        (request,) = found.run_requests or []
        assert request.run_config == {
            "ops": {"asset_history": {"config": {"coins": ["solana", "xrp"]}}}
        }
        first, last = _yesterday() - timedelta(days=2), _yesterday()
        assert request.partition_key_range == dg.PartitionKeyRange(str(first), str(last))
        assert request.run_key and request.run_key.startswith("new-coins-")
        # the request is valid for the sensor's job, and running it writes just those coins
        job = defs.resolve_job_def(history_job.name)
        assert dg.validate_run_config(job, request.run_config) is not None
        run = (
            dg.Definitions(assets=coincap_assets, jobs=[history_job], resources=resources)
            .resolve_job_def(history_job.name)
            .execute_in_process(run_config=request.run_config, tags=request.tags)
        )
        assert run.success
        with psycopg.connect(pg_url) as conn:
            rows = conn.execute(
                sql.SQL("SELECT coin_id, count(*) FROM {} GROUP BY 1 ORDER BY 1").format(
                    sql.Identifier(pg_schema, "asset_history")
                )
            ).fetchall()
        assert rows == [("solana", 3), ("xrp", 3)]  # one run over the whole range

        # once: a later snapshot with the same coins requests nothing
        snapshot(["bitcoin", "ethereum", "solana", "xrp"])
        again = tick(found.cursor)
        assert isinstance(again, dg.SensorResult) and not again.run_requests
        # and a tick replayed from the old cursor asks with the same run key (deduplicated)
        replay = tick(learned.cursor)
        assert isinstance(replay, dg.SensorResult)
        assert [r.run_key for r in replay.run_requests or []] == [request.run_key]


def test_a_sensor_meets_a_refused_database_as_one_line_without_the_password(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sensors' stores go through the same preflight as a run's: a wrong password fails
    the tick at once, in one line naming DATABASE_URL, the password nowhere."""
    secret = "sensorMARK1234"
    info = psycopg.conninfo.conninfo_to_dict(pg_url)
    wrong = f"postgresql://{info['user']}:{secret}@{info['host']}:{info['port']}/{info['dbname']}"
    monkeypatch.setenv("DATABASE_URL", wrong)
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(raw_assets.key))
        ctx = dg.build_sensor_context(instance=instance, resources={"postgres": PostgresResource()})
        with pytest.raises(dg.Failure) as err:
            new_coin_sensor(ctx)
    text = str(err.value.description)
    assert "refused the credentials in DATABASE_URL" in text and "\n" not in text
    assert err.value.allow_retries is False and secret not in str(err.value)


def test_new_coin_lookback_must_be_a_positive_number(
    resources: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from criptopipe import config

    monkeypatch.setenv("CRIPTOPIPE_NEW_COIN_LOOKBACK_DAYS", "a year")
    with pytest.raises(config.ConfigError, match="CRIPTOPIPE_NEW_COIN_LOOKBACK_DAYS"):
        config.settings()
    monkeypatch.delenv("CRIPTOPIPE_NEW_COIN_LOOKBACK_DAYS")
    assert config.settings().new_coin_lookback_days == 365


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
    server.server_close()


def _sense(instance: dg.DagsterInstance, result: Any, resources: dict[str, Any]) -> None:
    """Hand a finished run to the failure sensor, as the daemon does after the run ends."""
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
        resources={"postgres": resources["postgres"]},
    ).for_run_failure()
    run_failure_alert(context)


def _fail_and_sense(
    resources: dict[str, Any], webhook: list[dict[str, Any]] | None = None
) -> dg.ExecuteInProcessResult:
    """A run that really fails (an unknown coin): the assets' failure hook records it from
    inside the run; then the sensor sees it twice, as a daemon retick after a crash would."""
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
        if webhook is not None:
            assert len(webhook) == 1  # from inside the run: no daemon needed
        for _ in range(2):
            _sense(instance, result, resources)
    return result


def test_a_failed_run_is_recorded_and_alerted_once(
    resources: dict[str, Any],
    webhook: list[dict[str, Any]],
    pg_url: str,
    pg_schema: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CRIPTOPIPE_DAGSTER_UI_URL", "https://dagster.example.com")
    result = _fail_and_sense(resources, webhook)
    (alert,) = webhook  # the hook and two sensor ticks: one POST
    assert alert["run_id"] == result.run_id and "no-such-coin" in alert["error"]
    assert alert["partition"] == DAY and alert["assets"] == "asset_history"
    assert alert["step"] == "asset_history" and alert["attempts"] == 1
    assert alert["run_url"] == f"https://dagster.example.com/runs/{result.run_id}"
    assert alert["text"].startswith("criptopipe: run ")
    (row,) = ops_log.failures(PostgresStore(pg_url, schema=pg_schema))  # recorded once
    assert row["run_id"] == result.run_id and row["notified"] is True
    assert row["job_name"] == result.dagster_run.job_name and row["partition_key"] == DAY
    assert row["error"].startswith("unknown coin id(s) 'no-such-coin'")
    assert row["run_url"] == alert["run_url"] and row["step"] == "asset_history"


def test_run_failure_is_recorded_when_the_webhook_is_down(
    resources: dict[str, Any], pg_url: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRIPTOPIPE_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{free_port()}/hook")
    result = _fail_and_sense(resources)
    (row,) = ops_log.failures(PostgresStore(pg_url, schema=pg_schema))
    assert row["run_id"] == result.run_id and row["notified"] is False


@dg.asset(
    partitions_def=asset_history.partitions_def,
    retry_policy=dg.RetryPolicy(max_retries=2, delay=0),  # the assets' policy, without waits
    hooks={alert_on_failure},
)
def flaky_store(context, postgres: PostgresResource) -> None:  # type: ignore[no-untyped-def]
    """Fails every attempt on a storage outage that says which attempt it was."""
    attempt = context.retry_number + 1
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except OSError as exc:
        raise StorageUnavailableError(
            f"PostgreSQL at 127.0.0.1:1 is unreachable (attempt {attempt})"
        ) from exc


def test_a_retried_out_step_alerts_with_its_last_attempts_error(
    resources: dict[str, Any], webhook: list[dict[str, Any]], pg_url: str, pg_schema: str
) -> None:
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [flaky_store],
            partition_key=DAY,
            resources={"postgres": resources["postgres"]},
            instance=instance,
            raise_on_error=False,
        )
        (failed,) = result.get_step_failure_events()
        assert "Exceeded max_retries of 2" in failed.event_specific_data.error.message  # type: ignore[union-attr]
        (alert,) = webhook  # from the hook, inside the run
        _sense(instance, result, resources)  # and the sensor's reading of the same run
    assert len(webhook) == 1
    expected = "StorageUnavailableError: PostgreSQL at 127.0.0.1:1 is unreachable (attempt 3)"
    assert alert["error"] == expected and alert["attempts"] == 3
    assert "after 3 attempts" in alert["text"] and "max_retries" not in alert["text"]
    (row,) = ops_log.failures(PostgresStore(pg_url, schema=pg_schema))  # as the sensor left it
    assert (row["error"], row["attempts"], row["step"]) == (expected, 3, "flaky_store")


def test_a_failed_blocking_check_is_recorded_as_the_check(
    resources: dict[str, Any], pg_url: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRIPTOPIPE_ALERT_WEBHOOK_URL", raising=False)
    jobs = [
        dg.define_asset_job(
            name,
            selection=selection,
            partitions_def=asset_history.partitions_def,
        )
        for name, selection in [
            (
                "with_checks",
                dg.AssetSelection.assets(asset_history)
                | dg.AssetSelection.checks_for_assets(asset_history),
            ),
            # the checks alone, as the UI's "Execute all" runs them
            ("checks_only", dg.AssetSelection.checks_for_assets(asset_history)),
        ]
    ]
    definitions = dg.Definitions(
        assets=coincap_assets, asset_checks=quality_checks, jobs=jobs, resources=resources
    )
    with dg.instance_for_test() as instance:
        run = definitions.resolve_job_def("with_checks")
        assert run.execute_in_process(partition_key=DAY, instance=instance).success
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("UPDATE {} SET price_usd = -1 WHERE coin_id = 'ethereum'").format(
                    sql.Identifier(pg_schema, "asset_history")
                )
            )
        # (tags, not partition_key=: execute_in_process finds no asset to take the partitions from)
        failed = definitions.resolve_job_def("checks_only").execute_in_process(
            tags={"dagster/partition": DAY}, instance=instance, raise_on_error=False
        )
        assert not failed.success
        assert (
            ops_log.failures(PostgresStore(pg_url, schema=pg_schema)) == []
        )  # checks carry no hook: the sensor's
        _sense(instance, failed, resources)
    (row,) = ops_log.failures(PostgresStore(pg_url, schema=pg_schema))
    assert row["asset"] == "asset_history (check valid_prices)"
    assert row["partition_key"] == DAY and "valid_prices" in row["error"]
    assert row["notified"] is False  # no webhook configured


def test_every_asset_is_due_by_three_with_no_freshness_sensor() -> None:
    """Freshness is Dagster's FreshnessPolicy on each asset (evaluated by the daemon), not the
    superseded freshness checks and their sensor."""
    graph = defs.resolve_asset_graph()
    for key in (a.key for a in coincap_assets):
        policy = graph.get(key).freshness_policy
        assert isinstance(policy, dg.FreshnessPolicy), key
        assert (policy.deadline_cron, policy.timezone) == ("0 3 * * *", "UTC")  # type: ignore[attr-defined]
        assert policy.lower_bound_delta == timedelta(hours=3)  # type: ignore[attr-defined]
    assert not [c for c in defs.resolve_asset_graph().asset_check_keys if "fresh" in c.name]
    assert [s.name for s in defs.sensors or []] == ["new_coin_sensor", "run_failure_alert"]
