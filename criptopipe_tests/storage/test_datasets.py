"""Every dataset through both stores on real servers: awkward values survive COPY and BSON,
the raw archive keeps CoinCap's record exactly as sent, and the DDL is idempotent and migrates."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pandas as pd
import psycopg
import pytest
from psycopg import sql

from criptopipe.datasets import ASSET_HISTORY, MARKET_SNAPSHOTS, RAW_ASSETS, all_datasets
from criptopipe.storage.errors import DuplicateKeysError, StorageError, StorageUnavailableError
from criptopipe.storage.mongo import MongoStore
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import Slice
from criptopipe.transform.frames import frame_columns
from criptopipe_tests.factories import history_frame

DAY = date(2024, 6, 1)
FETCHED = datetime(2024, 6, 1, 0, 5, 1, 250000, tzinfo=timezone.utc)


@pytest.fixture
def stores(pg_url: str, pg_schema: str, mongo_url: str, mongo_db: str):  # type: ignore[no-untyped-def]
    pg, mongo = PostgresStore(pg_url, schema=pg_schema), MongoStore(mongo_url, database=mongo_db)
    pg.ensure_schema(all_datasets())
    mongo.ensure_indexes(all_datasets())
    yield pg, mongo
    mongo.close()


def _asset(coin: str, **fields: Any) -> dict[str, Any]:
    record = {
        "id": coin,
        "rank": "1",
        "symbol": "BTC",
        "name": "Bitcoin",
        "supply": "19700000.000000000000000000",
        "maxSupply": None,
        "priceUsd": "67012.123456789012345678901234",
        "explorer": "https://blockchain.info/",
        "tokens": {"1": ["0xabc"]},
        "someFieldCoinCapAddsLater": {"nested": [1, "2", None]},
    }
    row: dict[str, Any] = {c: None for c in frame_columns(RAW_ASSETS)}
    row.update(
        snapshot_date=DAY,
        coin_id=coin,
        rank=1,
        symbol="BTC",
        name="Bitcoin",
        supply=Decimal("19700000.000000000000000000"),
        price_usd=Decimal("67012.123456789012345678901234"),
        explorer="https://blockchain.info/",
        tokens=json.dumps(record["tokens"]),
        fetched_at=FETCHED,
        record=record,
        request_path="/assets?limit=2000&offset=0",
    )
    row.update(fields)
    return row


def test_raw_assets_keep_every_value_in_both_stores(stores) -> None:  # type: ignore[no-untyped-def]
    pg, mongo = stores
    awkward = _asset(
        "weird-coin",
        name="tab\tnew\nline back\\slash \u00e9\u4e2d",
        tokens={"56": ["0xdef"]},  # a dict is accepted as well as a JSON string
        price_usd=Decimal("1E-30"),
        change_percent_24hr=Decimal("-0.000000000000000001"),
        rank=None,
    )
    frame = pd.DataFrame([_asset("bitcoin"), awkward]).astype(object)
    slc = Slice.days(DAY, DAY)
    result = pg.replace_slice(RAW_ASSETS, slc, frame)
    assert (result.rows_written, result.rows_deleted) == (2, 0)
    mongo.replace_slice(RAW_ASSETS, slc, frame)

    rows = pg.read_slice(RAW_ASSETS, slc).set_index("coin_id")
    assert list(rows.columns) == [c for c in RAW_ASSETS.column_names if c != "coin_id"]
    assert rows.loc["bitcoin", "price_usd"] == Decimal("67012.123456789012345678901234")
    assert rows.loc["bitcoin", "tokens"] == {"1": ["0xabc"]}
    assert rows.loc["bitcoin", "max_supply"] is None
    assert rows.loc["weird-coin", "name"] == awkward["name"]
    assert rows.loc["weird-coin", "price_usd"] == Decimal("1E-30")
    assert rows.loc["weird-coin", "change_percent_24hr"] == Decimal("-0.000000000000000001")
    assert rows.loc["weird-coin", "tokens"] == {"56": ["0xdef"]}
    assert rows.loc["weird-coin", "rank"] is None
    assert rows.loc["bitcoin", "fetched_at"] == FETCHED
    assert rows.loc["bitcoin", "snapshot_date"] == DAY

    docs = {d["_id"]: d for d in mongo.read_slice(RAW_ASSETS, slc)}
    doc = docs[f"bitcoin|{DAY.isoformat()}"]
    assert doc["record"] == _asset("bitcoin")["record"]  # as sent: strings, nulls, unknown fields
    assert doc["snapshot_date"] == datetime(2024, 6, 1, tzinfo=timezone.utc)
    assert doc["coin_id"] == "bitcoin"
    assert doc["fetched_at"] == FETCHED
    assert doc["request_path"] == "/assets?limit=2000&offset=0"
    assert "_batch" not in doc
    assert (
        pg.keys(RAW_ASSETS, slc)
        == mongo.keys(RAW_ASSETS, slc)
        == {
            (DAY, "bitcoin"),
            (DAY, "weird-coin"),
        }
    )


def _market(exchange: str, quote: str, volume: str) -> dict[str, Any]:
    return {
        "snapshot_date": DAY,
        "coin_id": "bitcoin",
        "exchange_id": exchange,
        "base_id": "bitcoin",
        "quote_id": quote,
        "base_symbol": "BTC",
        "quote_symbol": quote.upper()[:4],
        "volume_usd_24hr": Decimal(volume),
        "price_usd": Decimal("67000.5"),
        "volume_percent": Decimal("12.5"),
        "fetched_at": FETCHED,
        "record": {"exchangeId": exchange, "quoteId": quote, "volumeUsd24Hr": volume},
        "request_path": "/assets/bitcoin/markets?limit=25",
    }


def test_market_snapshots_replace_by_their_five_part_key(stores) -> None:  # type: ignore[no-untyped-def]
    pg, mongo = stores
    slc = Slice.days(DAY, DAY, coins=["bitcoin"])
    first = pd.DataFrame(
        [_market("binance", "tether", "100"), _market("kraken", "united-states-dollar", "50")]
    ).astype(object)
    second = pd.DataFrame(
        [_market("binance", "tether", "120"), _market("coinbase", "united-states-dollar", "70")]
    ).astype(object)
    for frame in (first, second):
        mongo.replace_slice(MARKET_SNAPSHOTS, slc, frame)
        pg.replace_slice(MARKET_SNAPSHOTS, slc, frame)
    expected = {
        (DAY, "bitcoin", "binance", "bitcoin", "tether"),
        (DAY, "bitcoin", "coinbase", "bitcoin", "united-states-dollar"),
    }
    assert pg.keys(MARKET_SNAPSHOTS, slc) == mongo.keys(MARKET_SNAPSHOTS, slc) == expected
    rows = pg.read_slice(MARKET_SNAPSHOTS, slc)
    assert list(rows["exchange_id"]) == ["binance", "coinbase"]  # sorted by key
    assert rows["volume_usd_24hr"].iloc[0] == Decimal("120")
    docs = mongo.read_slice(MARKET_SNAPSHOTS, slc)
    assert [d["_id"] for d in docs] == [
        "bitcoin|2024-06-01|binance|bitcoin|tether",
        "bitcoin|2024-06-01|coinbase|bitcoin|united-states-dollar",
    ]


def test_an_empty_frame_empties_its_slice_and_nothing_else(stores) -> None:  # type: ignore[no-untyped-def]
    pg, mongo = stores
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    both = Slice.days(DAY, date(2024, 6, 2))
    frame = history_frame(["bitcoin", "ethereum"], DAY, 2, t0)
    for store in (mongo, pg):
        store.replace_slice(ASSET_HISTORY, both, frame)
    empty = pd.DataFrame({c: pd.Series([], dtype=object) for c in frame_columns(ASSET_HISTORY)})
    only = Slice.days(DAY, DAY, coins=["ethereum"])
    assert pg.replace_slice(ASSET_HISTORY, only, empty).rows_deleted == 1
    assert mongo.replace_slice(ASSET_HISTORY, only, empty).rows_deleted == 1
    remaining = {("bitcoin", DAY), ("bitcoin", date(2024, 6, 2)), ("ethereum", date(2024, 6, 2))}
    assert pg.keys(ASSET_HISTORY, both) == mongo.keys(ASSET_HISTORY, both) == remaining


def test_ddl_is_idempotent_and_adds_missing_columns(pg_url: str, pg_schema: str) -> None:
    store = PostgresStore(pg_url, schema=pg_schema)
    store.ensure_schema(all_datasets())
    table = sql.SQL("{}.{}").format(sql.Identifier(pg_schema), sql.Identifier("raw_assets"))
    with psycopg.connect(pg_url, autocommit=True) as conn:  # an older table, before `tokens`
        conn.execute(sql.SQL("ALTER TABLE {} DROP COLUMN tokens").format(table))
    store.ensure_schema(all_datasets())
    store.ensure_schema(all_datasets())
    with psycopg.connect(pg_url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s",
            (pg_schema,),
        ).fetchall()
        pks = conn.execute(
            "SELECT tc.table_name, array_agg(k.column_name::text ORDER BY k.ordinal_position) "
            "FROM information_schema.table_constraints tc "
            "JOIN information_schema.key_column_usage k USING (constraint_schema, constraint_name) "
            "WHERE tc.table_schema = %s AND tc.constraint_type = 'PRIMARY KEY' "
            "GROUP BY tc.table_name",
            (pg_schema,),
        ).fetchall()
    types = {(t, c): d for t, c, d in columns}
    assert types[("raw_assets", "tokens")] == "jsonb"
    assert types[("raw_assets", "price_usd")] == "numeric"
    assert types[("asset_history", "time")] == "timestamp with time zone"
    assert types[("market_snapshots", "snapshot_date")] == "date"
    assert dict(pks) == {
        "raw_assets": ["snapshot_date", "coin_id"],
        "asset_history": ["coin_id", "day"],
        "market_snapshots": ["snapshot_date", "coin_id", "exchange_id", "base_id", "quote_id"],
        "exchange_candles": ["pair", "day"],  # pair = exchange:symbol
        "daily_prices": ["coin_id", "day"],
        # the pipeline's own tables come with every ensure_schema
        "credit_ledger": ["id"],
        "check_results": ["id"],
        "run_failures": ["run_id"],
        "write_leases": ["id"],  # who writes which slice (criptopipe.storage.leases)
    }


def test_mongo_has_a_unique_natural_key_index_on_every_collection(stores) -> None:  # type: ignore[no-untyped-def]
    _, mongo = stores
    mongo.ensure_indexes(all_datasets())  # a second time changes nothing
    for ds in (RAW_ASSETS, ASSET_HISTORY, MARKET_SNAPSHOTS):
        indexes = mongo.collection(ds).index_information()
        unique = [spec for spec in indexes.values() if spec.get("unique")]
        assert [[k for k, _ in spec["key"]] for spec in unique] == [list(ds.key)]


def test_repeated_keys_are_refused_before_either_store_is_touched(stores) -> None:  # type: ignore[no-untyped-def]
    pg, mongo = stores
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    slc = Slice.days(DAY, DAY)
    frame = history_frame(["bitcoin", "ethereum"], DAY, 1, t0)
    doubled = pd.concat([frame, frame.iloc[[1]]], ignore_index=True)
    for store in (pg, mongo):
        with pytest.raises(DuplicateKeysError, match="ethereum"):
            store.replace_slice(ASSET_HISTORY, slc, doubled)
    assert pg.keys(ASSET_HISTORY, slc) == mongo.keys(ASSET_HISTORY, slc) == set()


def test_a_row_postgres_rejects_fails_the_write_and_keeps_the_previous_slice(stores) -> None:  # type: ignore[no-untyped-def]
    pg, _ = stores
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    slc = Slice.days(DAY, date(2024, 6, 3))
    pg.replace_slice(ASSET_HISTORY, slc, history_frame(["bitcoin"], DAY, 3, t0))
    before = pg.read_slice(ASSET_HISTORY, slc)
    bad = history_frame(["bitcoin"], DAY, 3, t0, salt=1)
    bad.loc[2, "price_usd"] = None  # NOT NULL: rejected on the third row of the COPY
    with pytest.raises(StorageError) as err:
        pg.replace_slice(ASSET_HISTORY, slc, bad)
    assert not isinstance(err.value, StorageUnavailableError)  # a retry would fail the same way
    assert "asset_history 2024-06-01..2024-06-03" in str(err.value)
    assert "price_usd" in str(err.value)
    assert pg.read_slice(ASSET_HISTORY, slc).equals(before)
