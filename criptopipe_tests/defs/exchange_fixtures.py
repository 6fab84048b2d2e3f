"""Fixtures and helpers for the exchanges' and the derived assets, run in process against both
sandboxes (CoinCap and the exchanges, the same synthetic universe) and the real servers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from criptopipe.datasets import Dataset
from criptopipe.defs.assets import all_assets
from criptopipe.defs.assets.coincap import asset_history, raw_assets
from criptopipe.defs.assets.derived import daily_prices
from criptopipe.defs.assets.exchanges import exchange_candles
from criptopipe.defs.checks import quality_checks
from criptopipe.defs.exchange_checks import exchange_checks
from criptopipe.sources.coincap.sandbox import SandboxServer
from criptopipe.sources.exchanges.sandbox import ExchangeSandbox
from criptopipe.storage.slices import Slice
from criptopipe_tests.factories import pipeline_resources

COINS = ["bitcoin", "ethereum", "solana", "tether"]
YESTERDAY = datetime.now(timezone.utc).date() - timedelta(days=1)
#: ten closed days, inside Kraken's 720-day horizon whatever the date
WINDOW = Slice(YESTERDAY - timedelta(days=9), YESTERDAY + timedelta(days=1))
RANGE = {
    "dagster/asset_partition_range_start": str(WINDOW.start),
    "dagster/asset_partition_range_end": str(WINDOW.last),
}


@pytest.fixture(scope="module")
def exchange_sandbox() -> Iterator[ExchangeSandbox]:
    """The exchanges over the CoinCap sandbox's universe (its coin count, 40, and seed)."""
    with ExchangeSandbox(port=0, coins=40) as xsb:
        yield xsb


@pytest.fixture
def xsb(exchange_sandbox: ExchangeSandbox) -> Iterator[ExchangeSandbox]:
    exchange_sandbox.set_faults({})
    exchange_sandbox.set_skew({})
    exchange_sandbox.reset()
    yield exchange_sandbox
    exchange_sandbox.set_faults({})
    exchange_sandbox.set_skew({})


@pytest.fixture
def xresources(
    pg_url: str,
    pg_schema: str,
    mongo_url: str,
    mongo_db: str,
    sandbox: SandboxServer,
    xsb: ExchangeSandbox,
) -> dict[str, Any]:
    """Resources on this test's schema and database, four tracked coins, both sandboxes."""
    mongo_uri = f"{mongo_url.rsplit('/', 1)[0]}/{mongo_db}"
    return pipeline_resources(pg_url, pg_schema, mongo_uri, sandbox.base_url, COINS, xsb.urls)


def run(
    resources: dict[str, Any],
    *assets: dg.AssetsDefinition,
    checks: bool = True,
    **kwargs: Any,
) -> dg.ExecuteInProcessResult:
    """Materialize `assets` (and their checks) for WINDOW, or as `kwargs` say."""
    selection = dg.AssetSelection.assets(*assets)
    selection = (
        selection | dg.AssetSelection.checks_for_assets(*assets)
        if checks
        else selection.without_checks()
    )
    kwargs.setdefault("tags", RANGE)
    return dg.materialize(
        [*all_assets, *quality_checks, *exchange_checks],
        selection=selection,
        resources=resources,
        raise_on_error=False,
        **kwargs,
    )


def load_upstream(resources: dict[str, Any]) -> None:
    """raw_assets for yesterday (the coins' CoinCap symbols) and asset_history for WINDOW."""
    assert run(resources, raw_assets, checks=False, partition_key=str(YESTERDAY), tags={}).success
    assert run(resources, asset_history, checks=False).success


def load_candles(resources: dict[str, Any]) -> None:
    """raw_assets for yesterday, then exchange_candles for WINDOW, without checks."""
    assert run(resources, raw_assets, checks=False, partition_key=str(YESTERDAY), tags={}).success
    result = run(resources, exchange_candles, checks=False)
    assert result.success, failures(result)


def load_all(resources: dict[str, Any]) -> dg.ExecuteInProcessResult:
    load_upstream(resources)
    result = run(resources, exchange_candles, daily_prices)
    assert result.success, failures(result)
    return result


def stored(
    resources: dict[str, Any], ds: Dataset, slc: Slice = WINDOW
) -> tuple[pd.DataFrame, list]:  # type: ignore[type-arg]
    return (
        resources["postgres"].store().read_slice(ds, slc),
        resources["mongo"].store().read_slice(ds, slc),
    )


def failures(result: dg.ExecuteInProcessResult) -> list[str]:
    return [
        str(e.step_failure_data.error.message if e.step_failure_data.error else e.message)  # type: ignore[union-attr]
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE"
    ]


def check(result: dg.ExecuteInProcessResult, name: str, asset: str | None = None) -> Any:
    """The check's verdict in the run: a range run reports one evaluation per day (each under
    its partition), so the first failed day's, else the first day's."""
    found = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.check_name == name  # type: ignore[union-attr]
        and (asset is None or e.asset_check_evaluation_data.asset_key.to_user_string() == asset)  # type: ignore[union-attr]
    ]
    assert found, f"no evaluation of {name}"
    failed = [f for f in found if not f.passed]
    return failed[0] if failed else found[0]


def materialization(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    """The metadata of `asset`'s materialization (a range run reports one per partition, all
    with the run's metadata)."""
    mats = [
        e.step_materialization_data.materialization
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
        and e.step_materialization_data.materialization.asset_key.to_user_string() == asset
    ]
    return {k: v.value for k, v in mats[-1].metadata.items()}


def days(first: date, n: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(n)]
