"""The exchanges' panels of the dashboard's pages: candlesticks and "sources agree" on the Coin
page, exchange requests on Pipeline health. Each reads through its own one-minute cache and,
when nothing is loaded yet, says how to load it instead of drawing an empty chart."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from criptopipe import config
from criptopipe.dashboard import exchange_charts as charts
from criptopipe.dashboard import exchange_queries as xq
from criptopipe.dashboard.sources import Sources

TTL_SECONDS = 60
NOTHING = (
    "No exchange candles for this coin yet: they come from exchange_candles (the configured "
    "CRIPTOPIPE_EXCHANGES) and daily_prices, loaded after the CoinCap assets by the "
    "daily_exchanges_schedule or a backfill of those two."
)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _cached(src: Sources, name: str, *args: Any) -> Any:
    return getattr(xq, name)(src, *args)


def cached(name: str, *args: Any) -> Any:
    return _cached(Sources.from_settings(), name, *args)


def coin_panels(coin: str, days: int | None, history: pd.DataFrame) -> None:
    """Candlesticks per exchange with CoinCap's d1 over them, then whether the sources agree."""
    st.subheader("Exchange candles")
    candles = cached("coin_candles", coin, days)
    if candles.empty:
        st.caption(NOTHING)
        return
    st.caption(
        "Closed UTC days as each exchange sent them, in the pair's quote currency (USDT is not "
        "exactly USD); the line is CoinCap's d1, a 24-hour average across venues."
    )
    st.plotly_chart(charts.candlesticks(candles, history, coin), width="stretch")
    st.subheader("Sources agree")
    prices = cached("coin_prices", coin, days)
    if prices.empty:
        st.caption("No daily_prices for this coin yet (`make run` derives them).")
        return
    warn = config.settings().sources_warn_pct
    spread = prices["spread_pct"].astype(float)
    over = prices[spread > warn]
    c1, c2, c3 = st.columns(3)
    c1.metric("Days compared", f"{len(prices):,}")
    c2.metric("Widest spread", f"{spread.max():.2f}%")
    c3.metric(f"Days over {warn:g}%", f"{len(over):,}")
    st.plotly_chart(charts.spread(prices, warn), width="stretch")
    if over.empty:
        st.caption(
            f"CoinCap's d1 average and every exchange's VWAP within {warn:g}% of each other on "
            "every day shown."
        )
    else:
        st.caption("Days whose prices spread wider than the warning threshold, and the outlier:")
        st.dataframe(
            over[["day", "spread_pct", "outlier", "outlier_pct", "median_usd", "sources"]],
            hide_index=True,
            width="stretch",
        )


def requests_panel() -> None:
    """Requests each exchange got per day (no credits: the exchanges' public endpoints)."""
    st.subheader("Exchange requests (last 30 days)")
    frame = cached("exchange_requests", 30)
    if frame.empty:
        st.caption("No exchange requests in the credit ledger yet.")
    else:
        st.dataframe(frame, hide_index=True, width="stretch")
