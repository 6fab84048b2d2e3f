"""An empty but valid answer never erases stored history (issue 17).

CoinCap has answered HTTP 200 with `{"data": []}` for some coins. The sandbox's `empty` fault
does the same; the assets run in process against the real servers. A coin that comes back empty
where the stores hold its rows is left out of the write (its rows stay byte-identical in both
stores) and named by the `empty_answers` warning; a run where every coin comes back empty fails
at once and writes nothing; a coin that comes back empty where nothing is stored (a window before
its listing) is written as before.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import dagster as dg
import pandas as pd

from criptopipe.datasets import ASSET_HISTORY, MARKET_SNAPSHOTS, Dataset
from criptopipe.defs.assets.coincap import asset_history, market_snapshots
from criptopipe.defs.checks import quality_checks
from criptopipe.sources.coincap.sandbox import SandboxServer
from criptopipe.storage.slices import Slice

RANGE = {
    "dagster/asset_partition_range_start": "2024-01-01",
    "dagster/asset_partition_range_end": "2024-01-31",
}
JANUARY = Slice(date(2024, 1, 1), date(2024, 2, 1))


def _run(
    resources: dict[str, Any], asset: dg.AssetsDefinition, **kwargs: Any
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [asset, *quality_checks],
        selection=dg.AssetSelection.assets(asset) | dg.AssetSelection.checks_for_assets(asset),
        resources=resources,
        raise_on_error=False,
        **kwargs,
    )


def _stored(resources: dict[str, Any], ds: Dataset, slc: Slice) -> tuple[pd.DataFrame, list]:  # type: ignore[type-arg]
    """Both stores' rows of a slice, every column (fetched_at and the raw record included)."""
    return (
        resources["postgres"].store().read_slice(ds, slc),
        resources["mongo"].store().read_slice(ds, slc),
    )


def _same(a: tuple[pd.DataFrame, list], b: tuple[pd.DataFrame, list]) -> bool:  # type: ignore[type-arg]
    return bool(a[0].equals(b[0])) and a[1] == b[1]


def _empty_answers_check(result: dg.ExecuteInProcessResult) -> Any:
    """The check's verdict: one result, or one per day of a range run, all the same (a coin
    held back had no answer for the whole window)."""
    checks = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.check_name == "empty_answers"  # type: ignore[union-attr]
    ]
    assert checks and len({(c.passed, c.description) for c in checks}) == 1
    return checks[0]


def _materialization_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    mats = [
        e.step_materialization_data.materialization
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    ]
    return {k: v.value for k, v in mats[-1].metadata.items()}


def test_an_empty_history_keeps_the_coins_rows_and_warns_naming_it(
    resources: dict[str, Any], sandbox: SandboxServer
) -> None:
    assert _run(resources, asset_history, tags=RANGE).success
    eth = Slice(JANUARY.start, JANUARY.end, frozenset({"ethereum"}))
    others = Slice(JANUARY.start, JANUARY.end, frozenset({"bitcoin", "solana"}))
    before_eth, before_others = (
        _stored(resources, ASSET_HISTORY, eth),
        _stored(resources, ASSET_HISTORY, others),
    )
    assert len(before_eth[0]) == 31 and len(before_eth[1]) == 31

    sandbox.set_faults({"rules": [{"kind": "empty", "path": "/ethereum/history", "times": None}]})
    try:
        result = _run(resources, asset_history, tags=RANGE)
    finally:
        sandbox.set_faults({})
    assert result.success  # a warning, never a failed run
    # ethereum's rows are exactly what they were, in both stores (fetch time included)
    assert _same(_stored(resources, ASSET_HISTORY, eth), before_eth)
    # the other coins were written again (a new fetch time), and still hold every day
    after_others = _stored(resources, ASSET_HISTORY, others)
    assert len(after_others[0]) == 62 and len(after_others[1]) == 62
    assert set(after_others[0]["fetched_at"]) != set(before_others[0]["fetched_at"])

    check = _empty_answers_check(result)
    assert check.passed is False and check.severity == dg.AssetCheckSeverity.WARN
    assert "ethereum" in check.description and "bitcoin" not in check.description
    assert check.metadata["held_back"].value == {"ethereum": 31}
    metadata = _materialization_metadata(result)
    assert metadata["held_back"] == {"ethereum": 31}
    assert metadata["empty_answers"] == ["ethereum"]


def test_every_coin_empty_fails_at_once_and_writes_nothing(
    resources: dict[str, Any], sandbox: SandboxServer
) -> None:
    assert _run(resources, asset_history, tags=RANGE).success
    before = _stored(resources, ASSET_HISTORY, JANUARY)
    sandbox.set_faults({"rules": [{"kind": "empty", "path": "/history", "times": None}]})
    try:
        result = _run(resources, asset_history, tags=RANGE)
    finally:
        sandbox.set_faults({})
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.message  # type: ignore[union-attr]
    assert "CoinCap answered no asset_history points for any of the 3 coin(s)" in message
    assert "nothing was written" in message
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert _same(_stored(resources, ASSET_HISTORY, JANUARY), before)


def test_an_empty_coin_with_nothing_stored_is_written_as_before(
    resources: dict[str, Any], sandbox: SandboxServer
) -> None:
    """Nothing stored for ethereum in the window: nothing to erase, so it stays in the slice
    (a window before a coin's listing looks exactly like this)."""
    sandbox.set_faults({"rules": [{"kind": "empty", "path": "/ethereum/history", "times": None}]})
    try:
        result = _run(resources, asset_history, tags=RANGE)
    finally:
        sandbox.set_faults({})
    assert result.success
    stored = _stored(resources, ASSET_HISTORY, JANUARY)
    assert sorted(set(stored[0]["coin_id"])) == ["bitcoin", "solana"]
    assert _empty_answers_check(result).passed is True
    assert _materialization_metadata(result)["empty_answers"] == ["ethereum"]


def test_an_empty_markets_list_keeps_the_coins_markets_and_warns(
    resources: dict[str, Any], sandbox: SandboxServer
) -> None:
    day = datetime.now(timezone.utc).date() - timedelta(days=1)
    slc = Slice(day, day + timedelta(days=1))
    eth = Slice(day, day + timedelta(days=1), frozenset({"ethereum"}))
    assert _run(resources, market_snapshots, partition_key=str(day)).success
    before = _stored(resources, MARKET_SNAPSHOTS, eth)
    assert len(before[0]) > 0

    sandbox.set_faults({"rules": [{"kind": "empty", "path": "/ethereum/markets", "times": None}]})
    try:
        result = _run(resources, market_snapshots, partition_key=str(day))
        assert result.success
        assert _same(_stored(resources, MARKET_SNAPSHOTS, eth), before)
        check = _empty_answers_check(result)
        assert check.passed is False and "ethereum" in check.description
        assert set(_stored(resources, MARKET_SNAPSHOTS, slc)[0]["coin_id"]) == {
            "bitcoin",
            "ethereum",
            "solana",
        }

        # every coin's markets empty: the run fails and the day is untouched
        whole = _stored(resources, MARKET_SNAPSHOTS, slc)
        sandbox.set_faults({"rules": [{"kind": "empty", "path": "/markets", "times": None}]})
        failed = _run(resources, market_snapshots, partition_key=str(day))
    finally:
        sandbox.set_faults({})
    assert not failed.success
    assert _same(_stored(resources, MARKET_SNAPSHOTS, slc), whole)
