"""Configuration errors fail at once, in one line that names what to fix."""

from __future__ import annotations

import asyncio

import ccxt
import pytest
from pydantic import ValidationError

from criptopipe.sources.exchanges import ExchangeClient, ExchangeSettings, UnknownExchangeError
from criptopipe.sources.exchanges.venues import CLOSED_URL


def test_unknown_exchange_id_lists_ccxts_close_ids() -> None:
    with pytest.raises(UnknownExchangeError) as caught:
        ExchangeSettings(exchanges="binanse,kraken")
    message = str(caught.value)
    assert "'binanse'" in message and "binance" in message and "binanceus" in message
    assert "CRIPTOPIPE_EXCHANGES=binance,kraken" in message and "\n" not in message
    assert caught.value.retryable is False and "binance" in caught.value.close
    with pytest.raises(UnknownExchangeError, match="close to it: kraken"):
        ExchangeClient("krakn", ExchangeSettings())


def test_an_exchange_ccxt_knows_but_we_have_no_paging_rules_for() -> None:
    with pytest.raises(UnknownExchangeError, match="CCXT knows the exchange 'bybit'.*venues.py"):
        ExchangeSettings(exchanges=("binance", "bybit"))


def test_environment_style_values_are_parsed_and_checked() -> None:
    settings = ExchangeSettings(exchanges=" Kraken, binance ", quote_preference="usd,usdt")
    assert settings.exchanges == ("kraken", "binance")
    assert settings.quote_preference == ("USD", "USDT")
    assert ExchangeSettings().exchanges == ("binance", "kraken")
    assert ExchangeSettings().quote_preference == ("USDT", "USD")
    with pytest.raises(ValidationError, match="not in exchanges"):
        ExchangeSettings(exchanges="kraken", url_overrides={"binance": "http://127.0.0.1:1"})
    with pytest.raises(ValidationError, match="must start with http"):
        ExchangeSettings(url_overrides={"binance": "127.0.0.1:8556"})
    with pytest.raises(ValidationError, match="listed twice"):
        ExchangeSettings(exchanges="kraken,kraken")


def test_an_override_points_every_other_api_at_a_closed_port() -> None:
    settings = ExchangeSettings(url_overrides={"binance": "http://127.0.0.1:1/binance"})

    async def stray_call() -> None:
        async with ExchangeClient("binance", settings) as client:
            api = client.ccxt.urls["api"]
            assert api["public"] == "http://127.0.0.1:1/binance/api/v3"
            assert {v for k, v in api.items() if k != "public"} == {CLOSED_URL}
            # a call outside the overridden API fails fast offline, never reaching Binance
            with pytest.raises(ccxt.ExchangeNotAvailable, match="127.0.0.1:9"):
                await client.ccxt.fapiPublicGetTime()

    asyncio.run(stray_call())
    kraken = ExchangeClient("kraken", ExchangeSettings())
    assert kraken.ccxt.urls["api"]["public"] == "https://api.kraken.com"  # untouched by default
