"""The four pages: Market, Coin, Exchanges, Pipeline health (health.py).

Each page reads through `cached` (cache.py: queries.py results kept for a minute per data
source) and, when its tables are empty or missing, says how to load data instead of failing.
Every figure says what it is: a d1 average or a snapshot price, and when a snapshot was fetched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from criptopipe.dashboard import data, exchange_views
from criptopipe.dashboard.cache import EMPTY, cached, figure
from criptopipe.dashboard.cache import fetched as _fetched
from criptopipe.dashboard.health import pipeline_health

__all__ = ["EMPTY", "PAGES", "cached"]

RANGES = {"30 days": 30, "90 days": 90, "1 year": 365, "all": None}


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
    c4.metric("Coins tracked", f"{kpis.coins:,}")
    st.caption(
        f"CoinCap's asset list for {kpis.snapshot_date} (partition), fetched "
        f"{_fetched(assets)}: prices are the live price when fetched, not a daily average. "
        "Dominance is bitcoin's share of the tracked coins' market cap."
    )
    gainers, losers = data.movers(assets)
    movers_config = {
        "symbol": st.column_config.TextColumn("symbol"),
        "name": st.column_config.TextColumn("coin"),
        "price": st.column_config.NumberColumn("price (USD, when fetched)", format="dollar"),
        "24h %": st.column_config.NumberColumn("change 24h", format="%+.2f%%"),
    }
    g, lo = st.columns(2)
    g.subheader("Top gainers (24h)")
    g.dataframe(gainers, hide_index=True, column_config=movers_config)
    lo.subheader("Top losers (24h)")
    lo.dataframe(losers, hide_index=True, column_config=movers_config)
    st.subheader("Coins")
    table = data.coins_table(assets, cached("trends", 30))
    st.dataframe(
        table.style.format(
            {"market cap": data.money, "volume 24h": data.money, "price": data.usd}, na_rep="-"
        ),
        hide_index=True,
        width="stretch",
        column_config=COIN_COLUMNS,
    )


#: the Market page's coin table: a label for every column
COIN_COLUMNS: dict[str, Any] = {
    "rank": st.column_config.NumberColumn("rank", help="Rank by market cap"),
    "coin": st.column_config.TextColumn("coin"),
    "symbol": st.column_config.TextColumn("symbol"),
    "price": st.column_config.NumberColumn("price (USD, when fetched)"),
    "24h %": st.column_config.NumberColumn("change 24h", format="%+.2f%%"),
    "market cap": st.column_config.NumberColumn("market cap (USD)"),
    "volume 24h": st.column_config.NumberColumn("volume 24h (USD)"),
    "trend": st.column_config.LineChartColumn("last 30 days (d1 average)"),
}


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
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric(
        f"d1 avg price, {last['day']:%b %-d}",
        data.usd(last["price_usd"]),
        help=f"CoinCap's 24-hour average price of {last['day']} (UTC), from asset_history.",
    )
    if snap:
        c2.metric(
            f"Snapshot price, {snap['snapshot_date']:%b %-d}",
            data.usd(snap.get("price_usd")),
            help=f"The live price when CoinCap's asset list was fetched ({_fetched(pd.DataFrame([snap]))}); "
            "the Market page shows this one.",
        )
    else:
        c2.metric("Snapshot price", "-", help="No raw_assets snapshot of this coin yet.")
    c3.metric("Days loaded", f"{len(full):,}")
    c4.metric("Circulating supply", data.quantity(snap.get("supply", last["circulating_supply"])))
    c5.metric("Max supply", data.quantity(snap.get("max_supply")))
    st.plotly_chart(figure("price_history", history, chosen, log), width="stretch")
    exchange_views.coin_panels(chosen, days, history)
    markets = cached("latest_markets", chosen)
    st.subheader("Markets by exchange and quote currency")
    if markets.empty:
        st.caption("No market snapshot for this coin yet (`make run` loads the latest one).")
    else:
        st.caption(
            f"Market snapshot for {markets['snapshot_date'].iloc[0]}, fetched {_fetched(markets)}."
        )
        st.plotly_chart(figure("markets_by_exchange", markets), width="stretch")
    st.subheader("Supply")
    max_supply = snap.get("max_supply")
    symbol = str(snap.get("symbol") or chosen)
    st.plotly_chart(
        figure("supply", history, float(max_supply) if max_supply is not None else None, symbol),
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
    c1.metric("Exchanges", f"{len(share):,}")
    top = share.iloc[0]
    c2.metric("Largest exchange", f"{top['exchange_id']} ({top['share %']:.1f}%)")
    c3.metric("Markets", f"{len(markets):,}")
    st.caption(
        f"Market snapshot for {markets['snapshot_date'].iloc[0]}, fetched {_fetched(markets)}: "
        "each tracked coin's markets, volume in USD over the 24 hours before the fetch."
    )
    st.plotly_chart(figure("volume_share", share), width="stretch")
    st.dataframe(
        share.style.format({"volume_usd_24hr": data.money}),
        hide_index=True,
        width="stretch",
        column_config={
            "exchange_id": st.column_config.TextColumn("exchange"),
            "volume_usd_24hr": st.column_config.NumberColumn("volume 24h (USD)"),
            "share %": st.column_config.ProgressColumn(
                "share of volume", format="%.2f%%", min_value=0, max_value=100
            ),
            "markets": st.column_config.NumberColumn("markets"),
        },
    )


PAGES: dict[str, Callable[[], None]] = {
    "Market": market,
    "Coin": coin,
    "Exchanges": exchanges,
    "Pipeline health": pipeline_health,
}
