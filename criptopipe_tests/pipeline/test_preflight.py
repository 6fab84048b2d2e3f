"""The preflight against the session's real servers: each way a store's settings can be wrong
is one line naming the variable with a good example, at once; a server that does not answer is
tried again for a few seconds only; passwords never appear."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from criptopipe.config import ConfigError
from criptopipe.local.ports import free_port
from criptopipe.pipeline import preflight
from criptopipe.storage.mongo import MongoStore
from criptopipe.storage.postgres import PostgresStore
from criptopipe_tests.mongo_auth import refusing_logins

SECRET = "s3cretMARK"


def _pg(pg_url: str, **parts: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(pg_url)
    values = {
        "user": str(info["user"]),
        "password": str(info["password"]),
        "host": str(info["host"]),
        "port": str(info["port"]),
        "db": str(info["dbname"]),
    }
    values.update(parts)
    return "postgresql://{user}:{password}@{host}:{port}/{db}".format(**values)


def _refused(check: object) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        check()  # type: ignore[operator]
    text = str(err.value)
    assert "\n" not in text and SECRET not in text and "Example: " in text
    assert err.value.retryable is False
    return err.value


def test_good_stores_pass_in_one_connection(pg_url: str, mongo_url: str) -> None:
    started = time.monotonic()
    preflight.postgres(PostgresStore(pg_url))
    store = MongoStore(mongo_url)
    try:
        preflight.mongo(store)
    finally:
        store.close()
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("parts", "says"),
    [
        ({"password": SECRET}, "refused the credentials in DATABASE_URL"),
        ({"db": "no_such_db"}, "has no database 'no_such_db'"),
        ({"host": "no-such-host.invalid"}, "does not resolve"),
        ({"password": SECRET + "%zz"}, "DATABASE_URL cannot be parsed"),
        ({"password": "p@" + SECRET}, "unescaped '@'"),
        ({"port": "notaport"}, "DATABASE_URL holds a value libpq cannot use"),
    ],
    ids=["password", "database", "host", "percent-escape", "unescaped-at", "port"],
)
def test_postgres_settings_the_server_refuses_fail_at_once(
    pg_url: str, parts: dict[str, str], says: str
) -> None:
    url = _pg(pg_url, **parts)
    started = time.monotonic()
    err = _refused(lambda: preflight.postgres(PostgresStore(url)))
    assert says in str(err), err
    assert time.monotonic() - started < 2  # no retries
    assert "DATABASE_URL" in str(err)


def test_a_postgres_that_does_not_answer_is_tried_for_seconds_then_fails(pg_url: str) -> None:
    said: list[str] = []
    url = _pg(pg_url, port=str(free_port()))
    started = time.monotonic()
    err = _refused(lambda: preflight.postgres(PostgresStore(url), retry_s=2.0, say=said.append))
    took = time.monotonic() - started
    assert 1.5 <= took < 4
    assert isinstance(err, preflight.UnreachableError)
    assert "nothing answers" in str(err) and "connection refused" in str(err)
    assert "not retried further" in str(err) and "DATABASE_URL" in str(err)
    assert said and "trying again for up to 2 s" in said[0]


@pytest.fixture
def refusing_mongo(mongo_url: str) -> Iterator[int]:
    with refusing_logins(mongo_url) as port:
        yield port


def test_mongodb_refused_credentials_unknown_host_and_silence(refusing_mongo: int) -> None:
    refused = MongoStore(f"mongodb://me:{SECRET}@127.0.0.1:{refusing_mongo}/db")
    err = _refused(lambda: preflight.mongo(refused))
    assert "refused the credentials in MONGODB_URI" in str(err)
    unknown = MongoStore("mongodb://no-such-host.invalid:27017/db")
    started = time.monotonic()
    err = _refused(lambda: preflight.mongo(unknown))
    assert "does not resolve" in str(err) and time.monotonic() - started < 1
    silent = MongoStore(f"mongodb://127.0.0.1:{free_port()}/db")
    started = time.monotonic()
    err = _refused(lambda: preflight.mongo(silent, retry_s=2.0))
    assert isinstance(err, preflight.UnreachableError) and "MONGODB_URI" in str(err)
    assert 1.5 <= time.monotonic() - started < 5
    for store in (refused, unknown, silent):
        store.close()


def test_a_reversed_partition_range_is_one_line_with_the_right_order() -> None:
    preflight.partition_range("2024-01-01", "2024-01-01")
    with pytest.raises(ConfigError) as err:
        preflight.partition_range("2024-03-01", "2024-01-01")
    assert str(err.value) == (
        "--partition-range 2024-03-01...2024-01-01 is reversed: its first day 2024-03-01 comes "
        "after its last day 2024-01-01. Example: --partition-range 2024-01-01...2024-03-01"
    )


def test_coins_and_top_n_from_the_launchpad_obey_the_variables_rules() -> None:
    preflight.universe(["bitcoin", "usd-coin"], 10, "run config")
    with pytest.raises(ConfigError, match=r"run config: 'a/b' is not a CoinCap id"):
        preflight.universe(["bitcoin", "a/b"], 10, "run config")
    with pytest.raises(ConfigError, match="top_n=0 must be 1 or more. Example: 10"):
        preflight.universe([], 0, "resource")
