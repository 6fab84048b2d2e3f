"""The real bodies captured from CoinCap v3 (../shared/docs/coincap-v3.md) parse verbatim."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email.utils import format_datetime

import pytest
from pydantic import SecretStr, ValidationError

from criptopipe.sources.coincap.client import _list_of, _one_of
from criptopipe.sources.coincap.errors import (
    CoinCapTransportError,
    MalformedResponseError,
    MissingApiKeyError,
    NotFoundError,
    RetriesExhaustedError,
)
from criptopipe.sources.coincap.models import Asset, HistoryPoint, Market
from criptopipe.sources.coincap.pagination import paginate
from criptopipe.sources.coincap.settings import ClientSettings
from criptopipe.sources.coincap.transport import Transport, error_message, parse_retry_after

ASSET = """{"timestamp":1775474489690,"data":{"id":"bitcoin","rank":"1","symbol":"BTC","name":"Bitcoin","supply":"20012087.000000000000000000","maxSupply":"21000000.000000000000000000","marketCapUsd":"1394938121675.859863281250000000","volumeUsd24Hr":"30717175906.604835510253906250","priceUsd":"69704.779999999998835847","changePercent24Hr":"3.934756709445493","vwap24Hr":"68412.29711944099","explorer":"https://blockchain.info/","tokens":{}}}"""
HISTORY = """{"data":[{"priceUsd":"29232.6707650537687673","time":1609459200000,"date":"2021-01-01T00:00:00.000Z"},{"priceUsd":"30688.0967118388768791","time":1609545600000,"date":"2021-01-02T00:00:00.000Z"}],"timestamp":1618219315479}"""
MARKETS = """{"data":[{"exchangeId":"Binance","baseId":"bitcoin","quoteId":"tether","baseSymbol":"BTC","quoteSymbol":"USDT","volumeUsd24Hr":"277775213.1923032624064566","priceUsd":"6263.8645034633024446","volumePercent":"7.4239157877678087"}],"timestamp":1539289444052}"""


def test_asset_body_parses_exactly() -> None:
    body = json.loads(ASSET)
    asset = _one_of(Asset)(body, "/assets/bitcoin")
    assert asset.id == "bitcoin" and asset.rank == 1
    assert asset.price_usd == Decimal("69704.779999999998835847")
    assert asset.market_cap_usd == Decimal("1394938121675.859863281250000000")
    assert asset.change_percent_24hr == Decimal("3.934756709445493")
    assert asset.tokens == {}
    assert asset.raw == body["data"]  # exactly as sent, original strings
    assert asset.source_path == "/assets/bitcoin"


def test_history_body_parses_exactly() -> None:
    body = json.loads(HISTORY)
    points = _list_of(HistoryPoint)(body, "/assets/bitcoin/history?interval=d1")
    assert [p.price_usd for p in points] == [
        Decimal("29232.6707650537687673"),
        Decimal("30688.0967118388768791"),
    ]
    assert points[0].time == 1609459200000 and points[0].circulating_supply is None
    assert [p.raw for p in points] == body["data"]


def test_markets_body_parses_exactly() -> None:
    body = json.loads(MARKETS)
    (market,) = _list_of(Market)(body, "/assets/bitcoin/markets")
    assert market.exchange_id == "Binance" and market.quote_id == "tether"
    assert market.volume_percent == Decimal("7.4239157877678087")
    assert market.raw == body["data"][0]


def test_nulls_and_unknown_fields_are_kept() -> None:
    record = {**json.loads(ASSET)["data"], "maxSupply": None, "vwap24Hr": None, "newField": "x"}
    asset = Asset.from_record(record, "/assets/bitcoin")
    assert asset.max_supply is None and asset.vwap_24hr is None
    assert asset.model_extra == {"newField": "x"}
    assert asset.raw["newField"] == "x"


def test_a_list_route_answering_an_object_is_an_error_not_zero_rows() -> None:
    deprecated = {"data": {"message": "We are deprecating this version"}}
    with pytest.raises(MalformedResponseError) as err:
        _list_of(Asset)(deprecated, "/assets?limit=100")
    assert "/assets?limit=100" in str(err.value) and "'data'" in str(err.value)


def test_a_bad_value_names_route_field_and_value() -> None:
    body = json.loads(HISTORY)
    body["data"][1]["priceUsd"] = "not-a-number"
    with pytest.raises(MalformedResponseError) as err:
        _list_of(HistoryPoint)(body, "/assets/bitcoin/history?interval=d1")
    text = str(err.value)
    assert "/assets/bitcoin/history" in text and "priceUsd" in text and "not-a-number" in text


def test_a_missing_required_field_is_named() -> None:
    body = json.loads(HISTORY)
    del body["data"][0]["priceUsd"]
    with pytest.raises(MalformedResponseError, match="priceUsd"):
        _list_of(HistoryPoint)(body, "/assets/bitcoin/history")


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    when = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(when, now=now) == pytest.approx(30.0)
    assert parse_retry_after("garbage") is None


def test_error_message_reads_any_shape() -> None:
    assert error_message(b'{"error":"limit exceeds 2000"}') == "limit exceeds 2000"
    assert error_message(b'{"data":{"message":"deprecated"}}') == "deprecated"
    assert error_message(b"<html>Bad Gateway</html>").startswith("<html>")


@pytest.mark.parametrize(
    ("total", "limit", "calls"),
    [
        (2300, None, [(2000, 0), (2000, 2000)]),
        (4000, None, [(2000, 0), (2000, 2000), (2000, 4000)]),
        (2300, 10, [(10, 0)]),
        (2300, 2001, [(2000, 0), (1, 2000)]),
        (5, 100, [(100, 0)]),
        (0, None, [(2000, 0)]),
        (2300, 0, []),
    ],
)
def test_paginate_stops_on_a_short_page_with_fewest_calls(
    total: int, limit: int | None, calls: list[tuple[int, int]]
) -> None:
    seen: list[tuple[int, int]] = []

    async def fetch(want: int, offset: int) -> list[int]:
        seen.append((want, offset))
        return list(range(offset, min(offset + want, total)))

    rows = asyncio.run(paginate(fetch, 2000, limit))
    assert rows == list(range(min(total, limit if limit is not None else total)))
    assert seen == calls


def test_the_key_is_redacted_everywhere() -> None:
    key = "sk-live-abcdef123456"
    settings = ClientSettings(base_url="http://127.0.0.1:9/v3", api_key=SecretStr(key))
    transport = Transport(settings)
    try:
        assert key not in repr(settings) and key not in repr(transport)
        assert key not in str(settings.model_dump()) and key not in settings.model_dump_json()
        leaked = f"GET http://127.0.0.1:9/v3/assets?apiKey={key} failed: Bearer {key}"
        assert transport.redact(leaked) == (
            "GET http://127.0.0.1:9/v3/assets?apiKey=*** failed: Bearer ***"
        )
        assert "apiKey" not in transport.source_path("/assets", {"limit": 5, "offset": None})
    finally:
        asyncio.run(transport.aclose())


def test_a_missing_key_is_refused_only_against_coincap_itself() -> None:
    with pytest.raises(MissingApiKeyError, match="pro.coincap.io/dashboard"):
        Transport(ClientSettings(api_key=SecretStr("  ")))
    Transport(ClientSettings(base_url="http://127.0.0.1:8555/v3"))  # the sandbox needs none


@pytest.mark.parametrize(
    "bad",
    [
        {"page_size": 2001},
        {"page_size": 0},
        {"calls_per_minute": 0},
        {"timeout_s": -1},
        {"max_attempts": 0},
        {"base_url": "rest.coincap.io/v3"},
    ],
)
def test_settings_are_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ClientSettings(**bad)  # type: ignore[arg-type]


def test_errors_say_whether_a_retry_may_help() -> None:
    assert RetriesExhaustedError("GET /assets", 6, 12.0, "HTTP 503").retryable
    assert not MalformedResponseError("GET /assets", "data", {}, "x").retryable
    assert not NotFoundError("GET /assets/x", "x", "Not Found").retryable
    assert NotFoundError("GET /assets/x", "x", "Not Found").slug == "x"
    assert not CoinCapTransportError("HTTP 418", retryable=False).retryable
