"""Pure pieces of the storage layer: COPY text, Mongo ids, URI handling and password redaction.

Everything that needs a server is in `criptopipe_tests/storage/test_contract.py and test_datasets.py`.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pandas as pd
import psycopg
import pytest

from criptopipe.datasets import ASSET_HISTORY, MARKET_SNAPSHOTS, RAW_ASSETS
from criptopipe.storage.copy_format import copy_text
from criptopipe.storage.errors import (
    StorageAuthError,
    StorageError,
    StorageUnavailableError,
    redact_url,
    scrub,
)
from criptopipe.storage.mongo import MongoStore, document_id
from criptopipe.storage.postgres import PostgresStore

FETCHED = datetime(2025, 1, 1, 12, 30, 15, 123000, tzinfo=timezone.utc)


def _raw_assets_row(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {c: None for c in RAW_ASSETS.column_names}
    row.update(snapshot_date=date(2024, 6, 1), coin_id="bitcoin", fetched_at=FETCHED)
    row.update(overrides)
    return row


def test_copy_text_escapes_what_copy_would_misread() -> None:
    frame = pd.DataFrame([_raw_assets_row(name="tab\there", explorer="new\nline\\and\rcr")]).astype(
        object
    )
    line = copy_text(frame, RAW_ASSETS).decode()
    cells = line.rstrip("\n").split("\t")
    assert len(cells) == len(RAW_ASSETS.columns)
    by_name = dict(zip(RAW_ASSETS.column_names, cells, strict=True))
    assert by_name["name"] == "tab\\there"
    assert by_name["explorer"] == "new\\nline\\\\and\\rcr"
    assert by_name["rank"] == "\\N" and by_name["price_usd"] == "\\N"


def test_copy_text_keeps_decimals_exact_and_timestamps_in_utc() -> None:
    frame = pd.DataFrame(
        [
            _raw_assets_row(
                price_usd=Decimal("67012.123456789012345678901234"),
                supply=Decimal("1E-30"),
                rank=1,
                tokens={"b": ["2"], "a": ["1"]},
            ),
            _raw_assets_row(coin_id="ethereum", tokens='{"1": ["0xabc"]}'),
        ]
    ).astype(object)
    first, second = (
        dict(zip(RAW_ASSETS.column_names, line.split("\t"), strict=True))
        for line in copy_text(frame, RAW_ASSETS).decode().splitlines()
    )
    assert first["price_usd"] == "67012.123456789012345678901234"
    assert Decimal(first["supply"]) == Decimal("1E-30")
    assert first["snapshot_date"] == "2024-06-01"
    assert first["fetched_at"] == "2025-01-01T12:30:15.123000+00:00"
    assert first["tokens"] == '{"a": ["1"], "b": ["2"]}'
    assert second["tokens"] == '{"1": ["0xabc"]}'


def test_copy_text_writes_integers_pandas_turned_into_floats() -> None:
    # DataFrame.from_records turns [1, None] into [1.0, nan] before astype(object)
    frame = pd.DataFrame([_raw_assets_row(rank=1), _raw_assets_row(rank=None)]).astype(object)
    assert list(frame["rank"].map(type)) == [float, float]
    lines = copy_text(frame, RAW_ASSETS).decode().splitlines()
    ranks = [
        dict(zip(RAW_ASSETS.column_names, ln.split("\t"), strict=True))["rank"] for ln in lines
    ]
    assert ranks == ["1", "\\N"]


def test_copy_text_of_no_rows_is_empty() -> None:
    frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in ASSET_HISTORY.column_names})
    assert copy_text(frame, ASSET_HISTORY) == b""


def test_document_ids_lead_with_the_coin() -> None:
    assert (
        document_id(ASSET_HISTORY, {"coin_id": "bitcoin", "day": date(2024, 1, 2)})
        == "bitcoin|2024-01-02"
    )
    market = {
        "snapshot_date": date(2024, 1, 2),
        "coin_id": "bitcoin",
        "exchange_id": "binance",
        "base_id": "bitcoin",
        "quote_id": "tether",
    }
    assert document_id(MARKET_SNAPSHOTS, market) == "bitcoin|2024-01-02|binance|bitcoin|tether"


@pytest.mark.parametrize(
    ("uri", "database", "expected"),
    [
        ("mongodb://localhost:27017", None, "criptopipe"),
        ("mongodb://localhost:27017/", None, "criptopipe"),
        ("mongodb://u:p@localhost:27017/archive?authSource=admin", None, "archive"),
        ("mongodb://localhost:27017/archive", "override", "override"),
    ],
)
def test_mongo_database_comes_from_the_uri(uri: str, database: str | None, expected: str) -> None:
    store = MongoStore(uri, database=database)  # the client connects lazily: no server needed
    try:
        assert store.database_name == expected
    finally:
        store.close()


def test_a_malformed_mongo_uri_is_refused_without_the_password() -> None:
    with pytest.raises(StorageError) as err:
        MongoStore("mongodb://me:s3cret@host:notaport/db")
    assert "s3cret" not in str(err.value) and "MONGODB_URI" in str(err.value)


def test_reprs_and_redaction_hide_passwords() -> None:
    url = "postgresql://me:s3cret@db.example:6543/prod"
    assert redact_url(url) == "postgresql://me:***@db.example:6543/prod"
    assert "s3cret" not in repr(PostgresStore(url))
    store = MongoStore("mongodb://me:s3cret@db.example:27018/archive")
    try:
        assert "s3cret" not in repr(store)
    finally:
        store.close()
    assert redact_url("mongodb://me:p@ss@h1:1,h2:2/db") == "mongodb://me:***@h1:1,h2:2/db"
    assert redact_url("postgresql://h/db?sslmode=require&password=s3cret") == (
        "postgresql://h/db?sslmode=require&password=***"
    )
    assert redact_url("mongodb://h/db?x=a@b") == "mongodb://h/db?x=a@b"
    assert scrub("host=x password=s3cret user=me", None) == "host=x password=*** user=me"
    assert scrub("it said s3cret", "s3cret") == "it said ***"


def test_postgres_errors_tell_refused_credentials_from_an_unreachable_server() -> None:
    store = PostgresStore("postgresql://me:s3cret@db.example:6543/prod", connect_timeout=3)
    auth = store._explain(
        psycopg.OperationalError(
            'connection failed: FATAL:  password authentication failed for user "me"'
        )
    )
    assert isinstance(auth, StorageAuthError)
    assert "wrong user or password" in str(auth) and "db.example:6543" in str(auth)
    down = store._explain(psycopg.OperationalError("connection timeout expired"))
    assert isinstance(down, StorageUnavailableError)
    assert "cannot reach PostgreSQL at db.example:6543" in str(down) and "3s" in str(down)
    for err in (auth, down):
        assert "s3cret" not in str(err)
