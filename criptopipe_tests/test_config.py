"""Settings: every variable read once, validated, and every problem said in one line that names
the variable, says what is wrong and shows a good value, without a password or key in it."""

from __future__ import annotations

import pytest

from criptopipe import config

BAD = [
    ("CRIPTOPIPE_TOP_N", "abc", "valid integer"),
    ("CRIPTOPIPE_TOP_N", "-1", "greater than or equal to 1"),
    ("CRIPTOPIPE_TOP_N", "0", "greater than or equal to 1"),
    ("CRIPTOPIPE_COINS", "bitcoin,bit'coin", "not a CoinCap id"),
    ("CRIPTOPIPE_COINS", "a/b", "not a CoinCap id"),
    ("CRIPTOPIPE_COINS", "bitcóin", "not a CoinCap id"),
    ("COINCAP_BASE_URL", "rest.coincap.io/v3", "http:// or https:// URL"),
    ("COINCAP_CREDIT_BUDGET", "lots", "valid integer"),
    ("CRIPTOPIPE_PG_SCHEMA", "coincap; drop table x", "lowercase PostgreSQL name"),
    ("CRIPTOPIPE_HISTORY_SPAN_DAYS", "0", "greater than or equal to 1"),
    ("DATABASE_URL", "mysql://u:pw@h/db", "postgresql:// URL"),
    ("DATABASE_URL", "postgresql://u:s3cr%zzet@host/db", "percent-encoded"),
    ("DATABASE_URL", "postgresql://u:s3cr@et@host/db", "unescaped '@'"),
    ("DATABASE_URL", "postgresql://u:s3cret@host:port/db", "port that is not a number"),
    ("MONGODB_URI", "http://u:s3cret@localhost:27017", "mongodb:// or mongodb+srv://"),
    ("MONGODB_URI", "mongodb://localhost:port/x", "cannot be parsed"),
    ("CRIPTOPIPE_ALERT_WEBHOOK_URL", "hooks.example.com", "http:// or https:// URL"),
    ("CRIPTOPIPE_EXCHANGES", "binanse", "CCXT ids close to it: binance"),
    ("CRIPTOPIPE_EXCHANGES", "bybit", "criptopipe has no candle paging rules for it"),
    ("CRIPTOPIPE_EXCHANGES", "kraken,kraken", "names an exchange twice"),
    ("CRIPTOPIPE_QUOTE_PREFERENCE", "USD T", "currency codes"),
    ("CRIPTOPIPE_EXCHANGE_URLS", "binance", "is not exchange=value"),
    ("CRIPTOPIPE_EXCHANGE_URLS", "okx=http://127.0.0.1:8556/okx", "does not list"),
    ("CRIPTOPIPE_EXCHANGE_URLS", "kraken=127.0.0.1:8556", "http:// or https:// URL"),
    ("CRIPTOPIPE_EXCHANGE_RATE_LIMIT_MS", "binance=0", "positive number of ms"),
    ("CRIPTOPIPE_SOURCES_WARN_PCT", "0", "greater than 0"),
    ("CRIPTOPIPE_SOURCES_ERROR_PCT", "1.5", "must be above CRIPTOPIPE_SOURCES_WARN_PCT"),
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for field in config.Settings.model_fields.values():
        if field.alias:
            monkeypatch.delenv(field.alias, raising=False)


@pytest.mark.parametrize(("name", "value", "why"), BAD)
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, why: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(config.ConfigError) as err:
        config.Settings.load()
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(name) and why in text
    assert f"Example: {name}=" in text
    assert "s3cr" not in text and "pw@" not in text
    assert err.value.retryable is False


def test_defaults_and_readings(monkeypatch: pytest.MonkeyPatch) -> None:
    s = config.Settings.load()
    assert s.coincap_base_url == config.DEFAULT_BASE_URL
    assert (s.top_n, s.credit_budget, s.history_span_days) == (10, 2500, 365)
    assert s.markets_per_coin == 25 and s.coins == [] and s.pg_schema == "coincap"
    monkeypatch.setenv("COINCAP_CREDIT_BUDGET", "off")
    monkeypatch.setenv("CRIPTOPIPE_MARKETS_PER_COIN", "all")
    monkeypatch.setenv("CRIPTOPIPE_COINS", " bitcoin, ethereum,bitcoin ,")
    monkeypatch.setenv("COINCAP_BASE_URL", "http://127.0.0.1:8555/v3/")
    monkeypatch.setenv("CRIPTOPIPE_TOP_N", "")  # empty means unset
    s = config.Settings.load()
    assert s.credit_budget is None and s.markets_per_coin is None
    assert s.coins == ["bitcoin", "ethereum"] and s.top_n == 10
    assert s.coincap_base_url == "http://127.0.0.1:8555/v3"


def test_exchange_settings_defaults_and_readings(monkeypatch: pytest.MonkeyPatch) -> None:
    s = config.Settings.load()
    assert (s.exchanges, s.quote_preference) == (("binance", "kraken"), ("USDT", "USD"))
    assert (s.exchange_urls, s.exchange_rate_limit_ms) == ({}, {})
    assert (s.sources_warn_pct, s.sources_error_pct) == (2.0, 10.0)
    monkeypatch.setenv("CRIPTOPIPE_EXCHANGES", " Kraken ")
    monkeypatch.setenv("CRIPTOPIPE_QUOTE_PREFERENCE", "usd,usdt,usd")
    monkeypatch.setenv("CRIPTOPIPE_EXCHANGE_URLS", "kraken=http://127.0.0.1:8556/kraken/")
    monkeypatch.setenv("CRIPTOPIPE_EXCHANGE_RATE_LIMIT_MS", "kraken=20")
    s = config.Settings.load()
    assert (s.exchanges, s.quote_preference) == (("kraken",), ("USD", "USDT"))
    assert s.exchange_urls == {"kraken": "http://127.0.0.1:8556/kraken"}
    assert s.exchange_rate_limit_ms == {"kraken": 20.0}


def test_several_problems_are_reported_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIPTOPIPE_TOP_N", "x")
    monkeypatch.setenv("CRIPTOPIPE_PG_SCHEMA", "Bad-Name")
    with pytest.raises(config.ConfigError) as err:
        config.Settings.load()
    assert "CRIPTOPIPE_TOP_N" in str(err.value) and "CRIPTOPIPE_PG_SCHEMA" in str(err.value)


def test_secrets_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINCAP_API_KEY", "marker-key-123")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:hunter2@db.example:5432/x")
    s = config.Settings.load()
    assert "marker-key-123" not in repr(s) and "hunter2" not in repr(s)
    assert s.api_key() == "marker-key-123"
    assert s.require_database_url().endswith("@db.example:5432/x")


def test_secrets_lists_every_password_and_key_in_each_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINCAP_API_KEY", "marker-key-123")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p%40ss1@db.example:5432/x")
    monkeypatch.setenv("MONGODB_URI", "mongodb://u:mongo%2Fpw@db.example:27017/x")
    monkeypatch.setenv("CRIPTOPIPE_ALERT_WEBHOOK_URL", "https://hooks.example/T0/B0/tok3n")
    secrets = set(config.Settings.load().secrets())
    assert {"marker-key-123", "p%40ss1", "p@ss1", "mongo%2Fpw", "mongo/pw"} <= secrets
    assert "https://hooks.example/T0/B0/tok3n" in secrets


def test_missing_stores_say_how_to_set_them() -> None:
    s = config.Settings.load()
    with pytest.raises(config.ConfigError, match="DATABASE_URL is not set.*make run"):
        s.require_database_url()
    with pytest.raises(config.ConfigError, match="MONGODB_URI is not set"):
        s.require_mongodb_uri()


def test_a_budget_on_the_command_line_reads_like_the_variable() -> None:
    assert config.parse_budget("off") is None and config.parse_budget("1200") == 1200
    with pytest.raises(config.ConfigError, match="COINCAP_CREDIT_BUDGET='abc'"):
        config.parse_budget("abc")
