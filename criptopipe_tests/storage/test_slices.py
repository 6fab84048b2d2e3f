"""A slice renders its predicate in one place: the parameterised SQL the stores execute, the
literal SQL metadata shows, and the MongoDB filter select exactly the same rows."""

from __future__ import annotations

from datetime import date, datetime, timezone

import psycopg
import pytest
from psycopg import sql

from criptopipe.datasets import ASSET_HISTORY
from criptopipe.storage.mongo import MongoStore
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import OutOfSliceError, Slice
from criptopipe_tests.factories import history_frame

FETCHED = datetime(2025, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "slc",
    [
        Slice.days(date(2024, 1, 2), date(2024, 1, 3)),
        Slice.days(date(2024, 1, 1), date(2024, 1, 4), ["btc", "o'hare"]),
        Slice.days(date(2024, 1, 4), date(2024, 1, 4), []),
    ],
    ids=["days", "days-and-coins", "no-coins"],
)
def test_executed_shown_and_mongo_predicates_select_the_same_rows(
    pg_url: str, pg_schema: str, mongo_url: str, mongo_db: str, slc: Slice
) -> None:
    pg = PostgresStore(pg_url, schema=pg_schema)
    mongo = MongoStore(f"{mongo_url.rsplit('/', 1)[0]}/{mongo_db}")
    pg.ensure_schema([ASSET_HISTORY])
    mongo.ensure_indexes([ASSET_HISTORY])
    everything = Slice.days(date(2024, 1, 1), date(2024, 1, 4))
    frame = history_frame(["btc", "eth", "o'hare"], date(2024, 1, 1), 4, FETCHED)
    pg.replace_slice(ASSET_HISTORY, everything, frame)
    mongo.replace_slice(ASSET_HISTORY, everything, frame)

    executed = pg.keys(ASSET_HISTORY, slc)
    with psycopg.connect(pg_url) as conn:
        shown = slc.select_text(ASSET_HISTORY, pg_schema)
        assert shown.startswith("SELECT * FROM ") and f'"{pg_schema}"."asset_history"' in shown
        rows = conn.execute(sql.SQL(shown.rstrip(";"))).fetchall()  # type: ignore[arg-type]
    assert {(r[0], r[1]) for r in rows} == executed
    assert mongo.keys(ASSET_HISTORY, slc) == executed
    expected = {
        (coin, day)
        for coin, day in frame[["coin_id", "day"]].itertuples(index=False)
        if slc.start <= day < slc.end and (slc.coins is None or coin in slc.coins)
    }
    assert executed == expected
    mongo.close()


def test_slices_nest_and_refuse_rows_they_do_not_own() -> None:
    window = Slice.days(date(2024, 1, 1), date(2024, 1, 31), ["btc", "eth"])
    assert Slice.days(date(2024, 1, 5), date(2024, 1, 6), ["btc"]).within(window)
    assert not Slice.days(date(2024, 1, 5), date(2024, 1, 6)).within(window)  # every coin
    assert not Slice.days(date(2023, 12, 31), date(2024, 1, 6), ["btc"]).within(window)
    assert window.narrow(None) is window and window.narrow(["btc"]).coins == {"btc"}
    frame = history_frame(["btc", "sol"], date(2024, 1, 1), 2, FETCHED)
    assert len(window.rows_of(ASSET_HISTORY, frame)) == 2
    with pytest.raises(OutOfSliceError, match="2 row\\(s\\) lie outside"):
        window.check_rows(ASSET_HISTORY, frame)
    with pytest.raises(ValueError, match="empty slice"):
        Slice(date(2024, 1, 2), date(2024, 1, 2))
