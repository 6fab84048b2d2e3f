"""The Pipeline health page: days loaded, holes, loads and runs, credits against the budget,
store parity, checks and failures.

Credits are per CoinCap URL: the budget (COINCAP_CREDIT_BUDGET) is for the URL the dashboard is
configured with (COINCAP_BASE_URL, CoinCap's own by default); a sandbox's spend is shown apart
and never counted against it. The month's projection appears only once enough days have passed
(`data.MIN_PROJECTION_DAYS`), and says how it is computed.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from criptopipe.dashboard import data, exchange_views
from criptopipe.dashboard import queries as q
from criptopipe.dashboard.cache import EMPTY, cached, figure

COLUMNS: dict[str, Any] = {
    "asset": st.column_config.TextColumn("dataset"),
    "coin_id": st.column_config.TextColumn("coin"),
    "day": st.column_config.DateColumn("missing day"),
    "last_fetched": st.column_config.DatetimeColumn(
        "last fetched (UTC)", format="YYYY-MM-DD HH:mm"
    ),
    "latest_day": st.column_config.DateColumn("latest day held"),
    "rows": st.column_config.NumberColumn("rows", format="localized"),
    "recorded_at": st.column_config.DatetimeColumn("recorded (UTC)", format="YYYY-MM-DD HH:mm"),
    "run_id": st.column_config.TextColumn("run", width="medium"),
    "partition_start": st.column_config.DateColumn("first day"),
    "partition_last": st.column_config.DateColumn("last day"),
    "requests": st.column_config.NumberColumn("requests", format="localized"),
    "credits": st.column_config.NumberColumn("credits", format="localized"),
    "succeeded": st.column_config.CheckboxColumn("succeeded", width="small"),
    "source": st.column_config.TextColumn("CoinCap URL", width="medium"),
    "url": st.column_config.TextColumn("CoinCap URL"),
    "kind": st.column_config.TextColumn("serves"),
    "budget": st.column_config.TextColumn("budget applies"),
    "dataset": st.column_config.TextColumn("dataset"),
    "window": st.column_config.TextColumn("days compared"),
    "postgres": st.column_config.NumberColumn("keys in PostgreSQL", format="localized"),
    "mongodb": st.column_config.NumberColumn("keys in MongoDB", format="localized"),
    "only in postgres": st.column_config.NumberColumn("only in PostgreSQL"),
    "only in mongodb": st.column_config.NumberColumn("only in MongoDB"),
    "agree": st.column_config.CheckboxColumn("stores agree"),
    "check_name": st.column_config.TextColumn("check"),
    "partition_key": st.column_config.TextColumn("partition"),
    "passed": st.column_config.CheckboxColumn("passed"),
    "severity": st.column_config.TextColumn("severity"),
    "description": st.column_config.TextColumn("what it says"),
    "evaluated_at": st.column_config.DatetimeColumn("evaluated (UTC)", format="YYYY-MM-DD HH:mm"),
    "failed_at": st.column_config.DatetimeColumn("failed (UTC)", format="YYYY-MM-DD HH:mm"),
    "job_name": st.column_config.TextColumn("job"),
    "error": st.column_config.TextColumn("root error"),
}


def table(frame: pd.DataFrame, empty: str | None = None) -> None:
    """A table with a label on every column; `empty` is said instead of an empty table."""
    if frame.empty and empty is not None:
        st.caption(empty)
        return
    config = {c: COLUMNS[c] for c in frame.columns if c in COLUMNS}
    st.dataframe(frame, hide_index=True, width="stretch", column_config=config)


def pipeline_health() -> None:
    st.header("Pipeline health")
    src = q.Sources.from_settings()
    loaded = cached("days_loaded")
    if loaded.empty:
        st.info(EMPTY)
        return
    today = q.today()
    credits = cached("credits_per_day", today.replace(day=1))
    mine = credits[credits["source"] == src.coincap_url] if not credits.empty else credits
    elsewhere = credits[credits["source"] != src.coincap_url] if not credits.empty else credits
    burn = data.month_burn(mine, today)
    other = data.month_burn(elsewhere, today)
    spent = int(burn["cumulative"].iloc[-1]) if len(burn) else 0
    sandbox = int(other["cumulative"].iloc[-1]) if len(other) else 0
    holes = cached("holes")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(
        "CoinCap credits this month",
        f"{spent:,} / {src.budget:,}" if src.budget else f"{spent:,} (no budget)",
        help=f"Spent at {src.coincap_url}, the URL COINCAP_CREDIT_BUDGET is for.",
    )
    c2.metric(
        "Sandbox credits this month",
        f"{sandbox:,}",
        help="Spent at other URLs (the local sandbox): synthetic, never counted against the "
        "budget.",
    )
    c3.metric("Missing (coin, day) pairs", f"{len(holes):,}")
    c4.metric("Days of history", f"{int((loaded['asset'] == 'asset_history').sum()):,}")

    st.plotly_chart(figure("days_calendar", data.calendar_frame(loaded)), width="stretch")
    st.subheader("Holes (coin, day)")
    if holes.empty:
        st.caption("None: every tracked coin has every day between its first and last.")
    else:
        st.caption("CoinCap has no price for these; `criptopipe fill-gaps` retries only them.")
        table(holes)

    st.subheader("Last materializations")
    table(cached("last_loads"))
    st.subheader("Recent CoinCap fetches (credit ledger)")
    table(cached("recent_runs"), "No fetches in the credit ledger yet.")
    exchange_views.requests_panel()

    st.subheader("Credits this month, per CoinCap URL")
    table(data.spend_by_url(credits, src.coincap_url, src.budget), "No credits spent this month.")
    projection = data.projection(spent, src.budget, today)
    if projection is not None:
        st.caption(projection.explain(today.strftime("%B")))
    elif src.budget:
        st.caption(
            f"No projection yet: today is day {today.day} of {today:%B}, too early to "
            f"extrapolate a month from (the projection starts on day {data.MIN_PROJECTION_DAYS})."
        )
    st.plotly_chart(figure("credits_vs_budget", burn, src.budget, other), width="stretch")

    st.subheader("PostgreSQL / MongoDB parity (last 7 loaded days)")
    latest = tuple((str(asset), day) for asset, day in loaded.groupby("asset")["day"].max().items())
    table(cached("parity", latest), "MONGODB_URI is not set: parity cannot be checked.")

    st.subheader("Latest check results")
    table(cached("latest_checks"), "No checks recorded yet.")
    st.subheader("Failed runs")
    table(cached("run_failures"), "No failed runs recorded.")
