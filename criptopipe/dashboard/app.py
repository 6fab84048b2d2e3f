"""criptopipe dashboard, the Streamlit entry point: `make dashboard` runs
`streamlit run criptopipe/dashboard/app.py`.

Four pages over the tables the pipeline loads (views.py); every read is in queries.py, every
number in data.py, every figure in charts.py. `?page=Coin` deep-links to a page.

A bad setting, a database that refuses the dashboard's login or does not answer, is one line on
the page (the same check and wording as a run's, `criptopipe.pipeline.preflight`), never a
traceback and never a password.
"""

from __future__ import annotations

import streamlit as st

from criptopipe import config
from criptopipe.dashboard import queries
from criptopipe.dashboard.views import PAGES
from criptopipe.pipeline import preflight
from criptopipe.storage.errors import StorageError, scrub


@st.cache_data(ttl=60, show_spinner=False)
def _reachable(src: queries.Sources) -> bool:
    """The warehouse takes the dashboard's login (one connection, no retries: a page waits for
    nobody). Cached for a minute once it passed; a failure is not cached, so the page retries."""
    preflight.postgres(src.store(), retry_s=0)
    return True


def main() -> None:
    st.set_page_config(page_title="criptopipe", layout="wide")
    st.sidebar.title("criptopipe")
    names = list(PAGES)
    if "page" not in st.session_state:  # first run of a session: honour a ?page= deep link
        wanted = st.query_params.get("page", names[0])
        st.session_state["page"] = wanted if wanted in names else names[0]
    # keyed and without `index`, so the widget keeps its identity when the URL changes below
    page = st.sidebar.radio("Page", names, key="page")
    st.query_params["page"] = page
    try:
        settings = config.settings()
    except config.ConfigError as exc:
        st.error(str(exc))
        return
    src = queries.Sources.from_settings(settings)
    if not src.pg_url:
        st.error(
            "DASHBOARD_DATABASE_URL is not set. Start the dashboard with `make dashboard`, which "
            "points it at the project's PostgreSQL and MongoDB with a read-only role (and "
            "`make run` to load data)."
        )
        return
    st.sidebar.caption(f"PostgreSQL schema `{src.schema}`, read-only; cached for a minute.")
    try:
        _reachable(src)
        PAGES[page]()
    except (config.ConfigError, StorageError) as exc:
        st.error(scrub(str(exc), *settings.secrets()))


main()
