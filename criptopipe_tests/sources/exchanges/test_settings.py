"""Configuration errors fail at once, in one line that names what to fix."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from criptopipe.sources.exchanges import ExchangeClient, ExchangeSettings, UnknownExchangeError


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
