"""No password leaves the storage layer, whatever the driver says: the URL forms parsers refuse
(the case where psycopg quotes the password back), errors classified by what a retry can fix."""

from __future__ import annotations

from datetime import date

import pytest

from criptopipe.pipeline.spend import Spend
from criptopipe.sources.coincap.settings import ClientSettings
from criptopipe.storage.errors import (
    StorageAuthError,
    StorageConfigError,
    StorageUnavailableError,
    chain_holds,
    scrub,
    url_secrets,
)
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import Slice

SECRET = "s3cretMARK"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"postgresql://u:{SECRET}@h/db", {SECRET}),
        (f"postgresql://u:{SECRET}%zz@h/db", {f"{SECRET}%zz"}),  # no parser reads it
        ("postgresql://u:p%40ssword@h/db", {"p%40ssword", "p@ssword"}),
        (f"postgresql://u:ab@{SECRET}@h/db", {f"ab@{SECRET}", SECRET}),  # an unescaped '@'
        (f"postgresql://h/db?sslmode=require&password={SECRET}", {SECRET}),
        ("mongodb://h1:1,h2:2/db", set()),
    ],
)
def test_url_secrets_reads_the_password_from_any_url(url: str, expected: set[str]) -> None:
    assert expected <= set(url_secrets(url))
    assert "h" not in url_secrets(url) and "db" not in url_secrets(url)


def test_scrub_and_chain_holds() -> None:
    text = f'invalid percent-encoded token: "{SECRET}%zz" at postgresql://u:{SECRET}%zz@h/db'
    cleaned = scrub(text, *url_secrets(f"postgresql://u:{SECRET}%zz@h/db"))
    assert SECRET not in cleaned and "invalid percent-encoded token" in cleaned
    assert scrub("see mysql://me:hunter2@h/x", None) == "see mysql://me:***@h/x"

    try:
        try:
            raise ValueError(f"driver said {SECRET}")
        except ValueError as inner:
            raise RuntimeError("ours, clean") from inner
    except RuntimeError as outer:
        assert chain_holds(outer, [SECRET])
        assert not chain_holds(outer, ["elsewhere"])
    try:
        try:
            raise ValueError(f"driver said {SECRET}")
        except ValueError:
            raise RuntimeError("ours, clean") from None
    except RuntimeError as outer:
        assert not chain_holds(outer, [SECRET])  # a suppressed context is not serialized


def test_an_unparsable_url_fails_without_the_password_and_is_not_retried() -> None:
    store = PostgresStore(f"postgresql://u:{SECRET}%zz@127.0.0.1:1/db")
    with pytest.raises(StorageConfigError) as err:
        with store.connect():
            pass
    assert SECRET not in str(err.value) and "DATABASE_URL cannot be parsed" in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert err.value.retryable is False


def test_the_ledger_warning_never_quotes_the_password() -> None:
    """The spend ledger's 'could not record' warning carried psycopg's message verbatim."""
    warned: list[str] = []
    spend = Spend(
        ClientSettings(base_url="http://127.0.0.1:1/v3", api_key="k" * 12),
        None,
        PostgresStore(f"postgresql://u:{SECRET}%zz@127.0.0.1:1/db"),
        run_id="r",
        asset="asset_history",
        window=Slice.days(date(2024, 1, 1), date(2024, 1, 1)),
        log=lambda _: None,
        warn=warned.append,
    )
    spend._record(0, 0, 0, succeeded=False)
    assert warned and "could not record spend" in warned[0]
    assert SECRET not in warned[0]


@pytest.mark.parametrize(
    ("said", "kind", "retryable"),
    [
        ('FATAL:  password authentication failed for user "u"', StorageAuthError, False),
        ('FATAL:  role "u" does not exist', StorageAuthError, False),
        ('FATAL:  database "x" does not exist', StorageConfigError, False),
        ("failed to resolve host 'h': [Errno -2] Name or service not known", StorageConfigError, False),
        ('invalid integer value "p" for connection option "port"', StorageConfigError, False),
        ("received invalid response to SSL negotiation: H", StorageConfigError, False),
        ("Connection refused\n\tIs the server running on that host", StorageUnavailableError, True),
        ("FATAL:  the database system is starting up", StorageUnavailableError, True),
        ("server closed the connection unexpectedly", StorageUnavailableError, True),
        ("failed to resolve host 'h': [Errno -3] Temporary failure in name resolution",
         StorageUnavailableError, True),
    ],
)  # fmt: skip
def test_connection_errors_are_classified_by_what_a_retry_can_fix(
    said: str, kind: type, retryable: bool
) -> None:
    import psycopg

    store = PostgresStore(f"postgresql://u:{SECRET}@h:5432/x", variable="DATABASE_URL")
    err = store._explain(psycopg.OperationalError(f"connection failed: {said} {SECRET}"))
    assert type(err) is kind and err.retryable is retryable
    assert "DATABASE_URL" in str(err) and SECRET not in str(err)
