"""The real bodies captured from CoinCap v3 (../shared/docs/coincap-v3.md) parse verbatim."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email.utils import format_datetime

import pytest

from criptopipe.coincap.client import _list_of, _one_of
from criptopipe.coincap.errors import MalformedResponseError
from criptopipe.coincap.models import Asset, HistoryPoint, Market
from criptopipe.coincap.transport import error_message, parse_retry_after

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
