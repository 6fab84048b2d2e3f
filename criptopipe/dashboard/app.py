"""criptopipe dashboard: `make dashboard` (streamlit run criptopipe/dashboard/app.py).

Four pages -- Market, Coin, Exchanges, Pipeline health -- over the tables the pipeline loads.
Reads are cached for a minute; with no data yet, each page says how to load some.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st

from criptopipe.dashboard import queries as q

TTL = 60
PAGES = ("Market", "Coin", "Exchanges", "Pipeline health")
EMPTY = "No data yet. Load some with `make run` (30 days of history and today's snapshots), then reload."


@st.cache_data(ttl=TTL, show_spinner=False)
def _cached(src: q.Sources, name: str, *args: Any) -> Any:
    return getattr(q, name)(src, *args)


def cached(name: str, *args: Any) -> Any:
    """A query's result, cached per data source for a minute."""
    return _cached(q.Sources.from_env(), name, *args)


def money(value: Any) -> str:
    if value is None or pd.isna(value):
        return "-"
    v = float(value)
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(v) >= size:
            return f"${v / size:,.2f}{unit}"
    return f"${v:,.2f}"


def market_page() -> None:
    st.header("Market")
    assets = cached("latest_assets") if "raw_assets" in cached("tables") else pd.DataFrame()
    if assets.empty:
        st.info(EMPTY)
        return
    cap = sum((Decimal(v) for v in assets["market_cap_usd"] if v is not None), Decimal(0))
    btc = assets[assets["coin_id"] == "bitcoin"]
    dominance = float(btc["market_cap_usd"].iloc[0] / cap * 100) if len(btc) and cap else None
    weights = assets.dropna(subset=["market_cap_usd", "change_percent_24hr"])
    change = (
        float(
            sum(
                Decimal(w) * Decimal(c)
                for w, c in zip(
                    weights["market_cap_usd"], weights["change_percent_24hr"], strict=True
                )
            )
            / cap
        )
        if cap
        else 0.0
    )
    day = assets["snapshot_date"].iloc[0]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Market cap (tracked coins)", money(cap))
    c2.metric("24h change (cap-weighted)", f"{change:+.2f}%")
    c3.metric("BTC dominance", f"{dominance:.1f}%" if dominance is not None else "-")
    c4.metric("Coins tracked", str(len(assets)))
    st.caption(f"Snapshot of {day} (the state at the close of that UTC day).")
    movers = assets.dropna(subset=["change_percent_24hr"]).sort_values("change_percent_24hr")
    g, lo = st.columns(2)
    g.subheader("Top gainers")
    g.dataframe(
        movers.tail(5)[::-1][["symbol", "name", "change_percent_24hr"]].astype(str), hide_index=True
    )
    lo.subheader("Top losers")
    lo.dataframe(
        movers.head(5)[["symbol", "name", "change_percent_24hr"]].astype(str), hide_index=True
    )
    hist = cached("history", None, 30)
    trend = (
        hist.groupby("coin_id")["price_usd"].apply(lambda s: [float(v) for v in s])
        if not hist.empty
        else {}
    )
    table = pd.DataFrame(
        {
            "rank": assets["rank"],
            "coin": assets["name"],
            "symbol": assets["symbol"],
            "price": assets["price_usd"].astype(float),
            "24h %": assets["change_percent_24hr"].astype(float),
            "market cap": assets["market_cap_usd"].astype(float),
            "30d": [trend.get(c, []) if len(trend) else [] for c in assets["coin_id"]],
        }
    )
    st.subheader("Coins")
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "30d": st.column_config.LineChartColumn("30d trend"),
            "market cap": st.column_config.NumberColumn(format="$%.0f"),
            "price": st.column_config.NumberColumn(format="$%.4f"),
        },
    )


def coin_page() -> None:
    st.header("Coin")
    names = cached("tables")
    if "asset_history" not in names:
        st.info(EMPTY)
        return
    hist_all = cached("history", None, None)
    if hist_all.empty:
        st.info(EMPTY)
        return
    coins = sorted(hist_all["coin_id"].unique())
    coin = st.selectbox("Coin", coins, index=coins.index("bitcoin") if "bitcoin" in coins else 0)
    days = st.select_slider("Range", options=[7, 30, 90, 365, 3650], value=365)
    log = st.toggle("Log scale", value=False)
    hist = hist_all[hist_all["coin_id"] == coin].tail(days)
    last = hist.iloc[-1]
    c1, c2, c3 = st.columns(3)
    c1.metric(f"{coin} price ({last['day']})", money(last["price_usd"]))
    c2.metric("Days loaded", str(len(hist_all[hist_all["coin_id"] == coin])))
    c3.metric(
        "Circulating supply",
        f"{float(last['circulating_supply']):,.0f}"
        if last["circulating_supply"] is not None
        else "-",
    )
    fig = px.line(
        hist.assign(price=hist["price_usd"].astype(float)),
        x="day",
        y="price",
        log_y=log,
        title=f"{coin}: daily price (USD)",
    )
    st.plotly_chart(fig, width="stretch")
    markets = cached("latest_markets", coin) if "market_snapshots" in names else pd.DataFrame()
    if not markets.empty:
        st.subheader("Markets by exchange and quote")
        markets = markets.assign(volume=markets["volume_usd_24hr"].astype(float))
        st.plotly_chart(
            px.bar(
                markets.head(30),
                x="exchange_id",
                y="volume",
                color="quote_symbol",
                title="24h volume (USD)",
            ),
            width="stretch",
        )
    doc = cached("raw_document", coin)
    st.subheader("Latest raw CoinCap document (MongoDB)")
    if doc:
        st.json(
            {
                k: (str(v) if not isinstance(v, (dict, list, str, int, float, type(None))) else v)
                for k, v in doc.items()
            }
        )
    else:
        st.caption("No raw_assets document for this coin yet.")


def exchanges_page() -> None:
    st.header("Exchanges")
    markets = (
        cached("latest_markets", None) if "market_snapshots" in cached("tables") else pd.DataFrame()
    )
    if markets.empty:
        st.info(EMPTY)
        return
    vol = (
        markets.assign(volume=markets["volume_usd_24hr"].astype(float))
        .groupby("exchange_id")["volume"]
        .sum()
    )
    share = (vol / vol.sum() * 100).sort_values(ascending=False)
    st.metric("Exchanges", str(len(share)))
    st.metric("Largest exchange", f"{share.index[0]} ({share.iloc[0]:.1f}%)")
    st.plotly_chart(
        px.pie(
            values=share.values, names=share.index, title="Share of volume across tracked coins"
        ),
        width="stretch",
    )
    st.dataframe(share.rename("share %").round(2).reset_index(), hide_index=True)


def health_page() -> None:
    st.header("Pipeline health")
    src = q.Sources.from_env()
    loaded = cached("days_loaded")
    if loaded.empty:
        st.info(EMPTY)
        return
    c1, c2, c3 = st.columns(3)
    spent = cached("credits_this_month")
    c1.metric("Credits this month", f"{spent:,} / {src.budget:,}")
    holes = cached("holes")
    c2.metric("Missing (coin, day) pairs", str(len(holes)))
    c3.metric("Days of history", str(int((loaded["asset"] == "asset_history").sum())))
    st.subheader("Days loaded")
    cal = loaded.assign(day=pd.to_datetime(loaded["day"]))
    st.plotly_chart(
        px.scatter(cal, x="day", y="asset", size="rows", title="Rows per asset per day"),
        width="stretch",
    )
    st.subheader("Last loads")
    st.dataframe(cached("last_loads").astype(str), hide_index=True)
    st.subheader("Credits per day")
    credits = cached("credits_per_day")
    if credits.empty:
        st.caption("No spend recorded yet.")
    else:
        st.plotly_chart(px.bar(credits, x="day", y="credits", color="asset"), width="stretch")
    st.subheader("PostgreSQL / MongoDB parity")
    st.dataframe(cached("parity"), hide_index=True)
    st.subheader("Holes (coin, day)")
    st.dataframe(holes.astype(str), hide_index=True)
    st.subheader("Latest check results")
    checks = cached("latest_checks")
    if checks.empty:
        st.caption("No checks recorded yet.")
    else:
        st.dataframe(checks.astype(str), hide_index=True)


def main() -> None:
    st.set_page_config(page_title="criptopipe", layout="wide")
    st.sidebar.title("criptopipe")
    wanted = st.query_params.get("page", PAGES[0])  # deep links: ?page=Coin
    page = st.sidebar.radio("Page", PAGES, index=PAGES.index(wanted) if wanted in PAGES else 0)
    src = q.Sources.from_env()
    if not src.pg_url:
        st.error(
            "DATABASE_URL is not set: start the dashboard with `make dashboard`, which sets it."
        )
        return
    {
        "Market": market_page,
        "Coin": coin_page,
        "Exchanges": exchanges_page,
        "Pipeline health": health_page,
    }[page]()


main()
