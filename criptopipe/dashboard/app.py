"""criptopipe dashboard, the Streamlit entry point: `make dashboard` runs
`streamlit run criptopipe/dashboard/app.py`.

Four pages over the tables the pipeline loads (views.py); every read is in queries.py, every
number in data.py, every figure in charts.py. `?page=Coin` deep-links to a page.
"""

from __future__ import annotations

import streamlit as st

from criptopipe.dashboard import queries
from criptopipe.dashboard.views import PAGES


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
    src = queries.Sources.from_settings()
    if not src.pg_url:
        st.error(
            "DASHBOARD_DATABASE_URL is not set. Start the dashboard with `make dashboard`, which "
            "points it at the project's PostgreSQL and MongoDB with a read-only role (and "
            "`make run` to load data)."
        )
        return
    st.sidebar.caption(f"PostgreSQL schema `{src.schema}`, read-only; cached for a minute.")
    PAGES[page]()


main()
