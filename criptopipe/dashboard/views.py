"""The four pages: Market, Coin, Exchanges, Pipeline health.

Each page reads through `cached` (queries.py results kept for a minute per data source, so a
page renders from memory on every rerun a widget triggers) and, when its tables are empty or
missing, says how to load data instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from criptopipe.dashboard import charts, data, exchange_views
from criptopipe.dashboard import queries as q

TTL_SECONDS = 60
EMPTY = (
    "No data yet. Load some with `make run` (30 days of history and the latest snapshots; "
    "without COINCAP_API_KEY it uses the synthetic sandbox), then reload this page."
)
RANGES = {"30 days": 30, "90 days": 90, "1 year": 365, "all": None}


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _cached(src: q.Sources, name: str, *args: Any) -> Any:
    return getattr(q, name)(src, *args)


def cached(name: str, *args: Any) -> Any:
    """queries.<name>(sources, *args), cached per data source for TTL_SECONDS."""
    return _cached(q.Sources.from_settings(), name, *args)


def market() -> None:
    st.header("Market")
    assets = cached("latest_assets")
    if assets.empty:
        st.info(EMPTY)
        return
    kpis = data.market_kpis(assets)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Market cap (tracked coins)", data.money(kpis.market_cap))
    c2.metric(
        "24h change (cap-weighted)",
        f"{kpis.change_24h_pct:+.2f}%" if kpis.change_24h_pct is not None else "-",
    )
    c3.metric(
        "BTC dominance",
        f"{kpis.btc_dominance_pct:.1f}%" if kpis.btc_dominance_pct is not None else "-",
    )
    c4.metric("Coins tracked", str(kpis.coins))
    st.caption(
        f"CoinCap snapshot of {kpis.snapshot_date} (the state at the close of that UTC day); "
        "dominance is bitcoin's share of the tracked coins' market cap."
    )
    gainers, losers = data.movers(assets)
    pct = st.column_config.NumberColumn(format="%+.2f%%")
    price = st.column_config.NumberColumn(format="$%.4f")
    g, lo = st.columns(2)
    g.subheader("Top gainers (24h)")
    g.dataframe(gainers, hide_index=True, column_config={"24h %": pct, "price": price})
    lo.subheader("Top losers (24h)")
    lo.dataframe(losers, hide_index=True, column_config={"24h %": pct, "price": price})
    st.subheader("Coins")
    st.dataframe(
        data.coins_table(assets, cached("trends", 30)),
        hide_index=True,
        width="stretch",
        column_config={
            "trend": st.column_config.LineChartColumn("30d price"),
            "price": price,
            "24h %": pct,
            "market cap": st.column_config.NumberColumn(format="$%.0f"),
            "volume 24h": st.column_config.NumberColumn(format="$%.0f"),
        },
    )


def coin() -> None:
    st.header("Coin")
    ids = cached("coins")
    if not ids:
        st.info(EMPTY)
        return
    left, mid, right = st.columns([2, 3, 1])
    chosen = left.selectbox("Coin", ids, index=0)
    window = mid.radio("Range", list(RANGES), index=2, horizontal=True)
    log = right.toggle("Log scale", value=False)
    full = cached("coin_history", chosen)
    days = RANGES[window]
    history = full.tail(days) if days else full
    last = full.iloc[-1]
    snap = cached("coin_snapshot", chosen) or {}
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(f"Price on {last['day']}", data.money(last["price_usd"]))
    c2.metric("Days loaded", f"{len(full):,}")
    c3.metric("Circulating supply", data.quantity(snap.get("supply", last["circulating_supply"])))
    c4.metric("Max supply", data.quantity(snap.get("max_supply")))
    st.plotly_chart(charts.price_history(history, chosen, log), width="stretch")
    exchange_views.coin_panels(chosen, days, history)
    markets = cached("latest_markets", chosen)
    st.subheader("Markets by exchange and quote currency")
    if markets.empty:
        st.caption("No market snapshot for this coin yet (`make run` loads the latest one).")
    else:
        st.plotly_chart(charts.markets_by_exchange(markets), width="stretch")
    st.subheader("Supply")
    max_supply = snap.get("max_supply")
    st.plotly_chart(
        charts.supply(history, float(max_supply) if max_supply is not None else None),
        width="stretch",
    )
    st.subheader("Latest raw CoinCap document (MongoDB raw_assets)")
    doc = cached("raw_document", chosen)
    if doc:
        st.json({k: _jsonable(v) for k, v in doc.items()}, expanded=2)
    else:
        st.caption("No raw_assets document for this coin yet.")


def _jsonable(value: Any) -> Any:
    """BSON values st.json cannot print (datetimes, ObjectIds) as their text."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def exchanges() -> None:
    st.header("Exchanges")
    markets = cached("latest_markets", None)
    if markets.empty:
        st.info(EMPTY)
        return
    share = data.volume_share(markets)
    c1, c2, c3 = st.columns(3)
    c1.metric("Exchanges", str(len(share)))
    top = share.iloc[0]
    c2.metric("Largest exchange", f"{top['exchange_id']} ({top['share %']:.1f}%)")
    c3.metric("Markets", f"{len(markets):,}")
    st.caption(
        f"Market snapshots of {markets['snapshot_date'].iloc[0]}: each tracked coin's markets, "
        "volume in USD over 24 hours."
    )
    st.plotly_chart(charts.volume_share(share), width="stretch")
    st.dataframe(
        share,
        hide_index=True,
        width="stretch",
        column_config={
            "share %": st.column_config.ProgressColumn(format="%.2f%%", min_value=0, max_value=100),
            "volume_usd_24hr": st.column_config.NumberColumn("volume 24h", format="$%.0f"),
        },
    )


def pipeline_health() -> None:
    st.header("Pipeline health")
    src = q.Sources.from_settings()
    loaded = cached("days_loaded")
    if loaded.empty:
        st.info(EMPTY)
        return
    today = q.today()
    burn = data.month_burn(cached("credits_per_day", today.replace(day=1)), today)
    spent = int(burn["cumulative"].iloc[-1]) if len(burn) else 0
    holes = cached("holes")
    c1, c2, c3 = st.columns(3)
    c1.metric(
        "Credits this month",
        f"{spent:,} / {src.budget:,}" if src.budget else f"{spent:,} (no budget)",
    )
    c2.metric("Missing (coin, day) pairs", f"{len(holes):,}")
    c3.metric("Days of history", str(int((loaded["asset"] == "asset_history").sum())))

    st.plotly_chart(charts.days_calendar(data.calendar_frame(loaded)), width="stretch")
    st.subheader("Holes (coin, day)")
    if holes.empty:
        st.caption("None: every tracked coin has every day between its first and last.")
    else:
        st.caption("CoinCap has no price for these; `criptopipe fill-gaps` retries only them.")
        st.dataframe(holes, hide_index=True)

    st.subheader("Last materializations")
    st.dataframe(cached("last_loads"), hide_index=True, width="stretch")
    _table_or(cached("recent_runs"), "No fetches in the credit ledger yet.")
    exchange_views.requests_panel()

    st.subheader("Credits")
    if src.budget:
        st.caption(
            f"At this pace the month ends at {data.pace(spent, src.budget, today):.0f}% "
            "of the budget."
        )
    st.plotly_chart(charts.credits_vs_budget(burn, src.budget), width="stretch")

    st.subheader("PostgreSQL / MongoDB parity (last 7 loaded days)")
    latest = tuple((str(asset), day) for asset, day in loaded.groupby("asset")["day"].max().items())
    _table_or(cached("parity", latest), "MONGODB_URI is not set: parity cannot be checked.")

    st.subheader("Latest check results")
    _table_or(cached("latest_checks"), "No checks recorded yet.")
    st.subheader("Failed runs")
    _table_or(cached("run_failures"), "No failed runs recorded.")


def _table_or(frame: pd.DataFrame, empty: str) -> None:
    if frame.empty:
        st.caption(empty)
    else:
        st.dataframe(frame, hide_index=True, width="stretch")


PAGES: dict[str, Callable[[], None]] = {
    "Market": market,
    "Coin": coin,
    "Exchanges": exchanges,
    "Pipeline health": pipeline_health,
}
