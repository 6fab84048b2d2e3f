"""The dashboard with bad settings or a database that refuses it: one line on the page naming
the variable (the same check and words as a run's), never a traceback, never the password."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from streamlit.testing.v1 import AppTest

from criptopipe.local.ports import free_port

APP = str(Path(__file__).resolve().parents[2] / "criptopipe" / "dashboard" / "app.py")
SECRET = "dashMARK0451"


def _url(pg_url: str, **parts: str) -> str:
    info = {k: str(v) for k, v in psycopg.conninfo.conninfo_to_dict(pg_url).items()}
    values = {"user": info["user"], "password": SECRET, "host": info["host"]}
    values |= {"port": info["port"], "db": info["dbname"], **parts}
    return "postgresql://{user}:{password}@{host}:{port}/{db}".format(**values)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"DASHBOARD_DATABASE_URL": "{wrong}"}, "refused the credentials in DASHBOARD_DATABASE_URL"),
        ({"DATABASE_URL": "{closed}"}, "DATABASE_URL: nothing answers"),
        ({"DASHBOARD_DATABASE_URL": "{escape}"}, "DASHBOARD_DATABASE_URL"),
        ({"CRIPTOPIPE_PG_SCHEMA": "x; drop table y"}, "CRIPTOPIPE_PG_SCHEMA"),
    ],
    ids=["wrong-password", "closed-port", "bad-escape", "bad-schema"],
)  # fmt: skip
def test_a_connection_error_is_one_line_on_the_page(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], says: str
) -> None:
    urls = {
        "wrong": _url(pg_url),
        "closed": _url(pg_url, port=str(free_port())),
        "escape": _url(pg_url, password=SECRET + "%zz"),
    }
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.delenv("DASHBOARD_DATABASE_URL", raising=False)
    monkeypatch.delenv("CRIPTOPIPE_PG_SCHEMA", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value.format(**urls))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and says in errors[0] and "\n" not in errors[0], errors
    page = " ".join(str(e.value) for e in [*at.error, *at.markdown, *at.caption, *at.info])
    assert SECRET not in page
