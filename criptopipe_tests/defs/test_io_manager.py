"""The IO manager tested directly: `dg.materialize` on the real servers, no CLI in between.

The first test adds a fourth dataset through the registry in the test alone (one `register`
plus one asset function) and materializes it to both stores: the registry is the only place
the rest of the project learns about a dataset.
"""

from collections.abc import Iterator
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from criptopipe import datasets
from criptopipe.datasets import Dataset
from criptopipe.defs.partitions import daily_partitions, window
from criptopipe.defs.types import checked_output, output_type
from criptopipe.pipeline.output import SliceOutput
from criptopipe.pipeline.planner import Estimate
from criptopipe.storage.mongo import MongoStore
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import Slice, as_date
from criptopipe.storage.tables import FETCHED_AT, Column

FETCHED = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)


def _toy_rows(docs: Any) -> list[dict[str, Any]]:
    return [
        {
            "coin_id": d["coin_id"],
            "day": as_date(d["day"]),
            "price_usd": Decimal(d["record"]["p"]),
            "fetched_at": d["fetched_at"],
            "record": d["record"],
            "request_path": d["request_path"],
        }
        for d in docs
    ]


TOY = Dataset(
    name="toy_prices",
    description="A dataset that exists only in this test.",
    source="test",
    partition_column="day",
    coin_column="coin_id",
    key=("coin_id", "day"),
    columns=(
        Column("coin_id", "text", nullable=False),
        Column("day", "date", nullable=False),
        Column("price_usd", "numeric", nullable=False, non_negative=True),
        FETCHED_AT,
    ),
    rows_from_documents=_toy_rows,
    estimate=lambda req: Estimate("toy_prices", 0, 0, 0),
)


def _row(coin: str, day: date, price: str) -> dict[str, Any]:
    return {
        "coin_id": coin,
        "day": day,
        "price_usd": Decimal(price),
        "fetched_at": FETCHED,
        "record": {"p": price, "extra": [1, 2]},
        "request_path": f"/toy/{coin}",
    }


@pytest.fixture
def toy() -> Iterator[Dataset]:
    datasets.register(TOY)
    yield TOY
    datasets.unregister(TOY.name)


def _toy_asset(coins: list[str], price: str) -> dg.AssetsDefinition:
    @dg.asset(
        name="toy_prices",
        partitions_def=daily_partitions,
        io_manager_key="warehouse_io_manager",
        dagster_type=output_type(TOY),
    )
    def toy_prices(context: dg.AssetExecutionContext) -> SliceOutput:
        days = window(context)
        output = checked_output(TOY, days.narrow(coins))
        output.add(TOY.frame([_row(c, d, price) for c in coins for d in days.day_list()]))
        return output

    return toy_prices


def test_a_fourth_dataset_needs_one_registry_entry_and_one_asset(
    toy: Dataset, resources: dict[str, Any], pg_url: str, pg_schema: str
) -> None:
    io = {"warehouse_io_manager": resources["warehouse_io_manager"]}
    result = dg.materialize(
        [_toy_asset(["bitcoin", "ethereum"], "1.50")],
        partition_key="2024-05-02",
        resources=io,
    )
    assert result.success
    pg = PostgresStore(pg_url, schema=pg_schema)
    mongo = resources["mongo"].store()
    day = Slice.days(date(2024, 5, 2), date(2024, 5, 2))
    rows = pg.read_slice(toy, day)
    assert list(rows["coin_id"]) == ["bitcoin", "ethereum"]
    assert [str(p) for p in rows["price_usd"]] == ["1.50", "1.50"]
    docs = mongo.read_slice(toy, day)
    assert [(d["_id"], d["record"]) for d in docs] == [
        ("bitcoin|2024-05-02", {"p": "1.50", "extra": [1, 2]}),
        ("ethereum|2024-05-02", {"p": "1.50", "extra": [1, 2]}),
    ]
    # the archive rebuilds the table through the registry entry alone
    rebuilt = toy.frame_from_documents(docs)[toy.column_names]
    pd.testing.assert_frame_equal(rebuilt, rows[toy.column_names])

    meta = result.asset_materializations_for_node("toy_prices")[0].metadata
    assert meta["rows"].value == 2 and meta["documents"].value == 2
    query = str(meta["postgres_query"].value)
    assert f'FROM "{pg_schema}"."toy_prices"' in query
    assert "'2024-05-02'::date" in query and "'{bitcoin,ethereum}'" in query

    # a rerun for one coin replaces that coin's rows only, in both stores
    dg.materialize([_toy_asset(["bitcoin"], "2.00")], partition_key="2024-05-02", resources=io)
    rows = pg.read_slice(toy, day)
    assert [str(p) for p in rows["price_usd"]] == ["2.00", "1.50"]
    assert pg.keys(toy, day) == mongo.keys(toy, day)


def test_rows_of_the_slice_go_in_parts_and_the_spill_is_removed(
    toy: Dataset, resources: dict[str, Any], pg_url: str, pg_schema: str
) -> None:
    spilled: list[Path] = []

    @dg.asset(
        name="toy_prices",
        partitions_def=daily_partitions,
        io_manager_key="warehouse_io_manager",
        dagster_type=output_type(TOY),
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def toy_prices(context: dg.AssetExecutionContext) -> SliceOutput:
        days = window(context)
        output = checked_output(TOY, days.narrow(["a", "b", "c"]), spill=True)
        for coin in ("a", "b", "c"):  # one spilled batch per coin, as a large backfill does
            frame = TOY.frame([_row(coin, d, "3") for d in days.day_list()])
            output.add(frame, [days.narrow([coin])])
        assert output.spill_folder is not None
        assert len(list(output.spill_folder.glob("batch-*.pickle"))) == 3
        spilled.append(output.spill_folder)
        return output

    result = dg.materialize(
        [toy_prices],
        tags={
            "dagster/asset_partition_range_start": "2024-05-01",
            "dagster/asset_partition_range_end": "2024-05-03",
        },
        resources={"warehouse_io_manager": resources["warehouse_io_manager"]},
    )
    assert result.success
    pg = PostgresStore(pg_url, schema=pg_schema)
    window_slice = Slice.days(date(2024, 5, 1), date(2024, 5, 3))
    assert len(pg.read_slice(toy, window_slice)) == 9
    meta = result.asset_materializations_for_node("toy_prices")[0].metadata
    assert str(meta["slice"].value).startswith("3 slices in 2024-05-01..2024-05-03")
    assert spilled and not spilled[0].exists()


def test_an_output_outside_the_runs_partitions_is_refused_before_any_write(
    toy: Dataset, resources: dict[str, Any], pg_url: str, pg_schema: str
) -> None:
    @dg.asset(
        name="toy_prices",
        partitions_def=daily_partitions,
        io_manager_key="warehouse_io_manager",
        dagster_type=output_type(TOY),
    )
    def toy_prices() -> SliceOutput:
        wrong = Slice.days(date(2024, 5, 9), date(2024, 5, 9))
        output = checked_output(TOY, wrong)
        output.add(TOY.frame([_row("a", date(2024, 5, 9), "1")]))
        return output

    result = dg.materialize(
        [toy_prices],
        partition_key="2024-05-02",
        resources={"warehouse_io_manager": resources["warehouse_io_manager"]},
        raise_on_error=False,
    )
    assert not result.success
    failure = result.failure_data_for_node("toy_prices")
    assert failure is not None and "lies outside the run's partitions" in str(failure.error)
    pg = PostgresStore(pg_url, schema=pg_schema)
    assert pg.keys(toy, Slice.days(date(2024, 5, 9), date(2024, 5, 9))) == set()


def test_rows_failing_the_type_are_never_kept(toy: Dataset) -> None:
    output = checked_output(toy, Slice.days(date(2024, 5, 2), date(2024, 5, 2)))
    bad = TOY.frame([{**_row("a", date(2024, 5, 2), "1"), "price_usd": 1.5}])  # a float
    with pytest.raises(dg.Failure, match="type check"):
        output.add(bad)
    assert output.parts == []


def test_a_downstream_asset_reads_the_slice_back(
    toy: Dataset, resources: dict[str, Any], mongo_url: str
) -> None:
    upstream = _toy_asset(["bitcoin"], "7.25")

    @dg.asset(partitions_def=daily_partitions, deps=[], ins={"toy_prices": dg.AssetIn()})
    def doubled(toy_prices: pd.DataFrame) -> list[str]:
        return [str(p * 2) for p in toy_prices["price_usd"]]

    result = dg.materialize(
        [upstream, doubled],
        partition_key="2024-05-02",
        resources={
            "warehouse_io_manager": resources["warehouse_io_manager"],
            "io_manager": dg.mem_io_manager,
        },
    )
    assert result.output_for_node("doubled") == ["14.50"]
    assert isinstance(resources["mongo"].store(), MongoStore)
