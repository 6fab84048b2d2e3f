"""Plotly figures of the exchanges' candles and of the sources' agreement: frames in, figures out
(no Streamlit, no database)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

COINCAP_LINE = {"color": "#222222", "width": 1.5}


def candlesticks(candles: pd.DataFrame, history: pd.DataFrame, coin: str) -> go.Figure:
    """One panel of daily candles per exchange pair (in its own quote currency), each with
    CoinCap's d1 average (USD) drawn over it."""
    pairs = list(candles.groupby(["exchange", "symbol"], sort=True))
    fig = make_subplots(
        rows=len(pairs),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        subplot_titles=[f"{ex} {symbol}" for (ex, symbol), _ in pairs],
    )
    for i, ((exchange, symbol), part) in enumerate(pairs, start=1):
        fig.add_trace(
            go.Candlestick(
                x=part["day"],
                open=part["open"].astype(float),
                high=part["high"].astype(float),
                low=part["low"].astype(float),
                close=part["close"].astype(float),
                name=f"{exchange} {symbol}",
            ),
            row=i,
            col=1,
        )
        if not history.empty:
            fig.add_trace(
                go.Scatter(
                    x=history["day"],
                    y=history["price_usd"].astype(float),
                    mode="lines",
                    line=COINCAP_LINE,
                    name="CoinCap d1 (USD)",
                    legendgroup="coincap",
                    showlegend=i == 1,
                    hovertemplate="%{x}: $%{y:,.4f} (CoinCap d1)<extra></extra>",
                ),
                row=i,
                col=1,
            )
    fig.update_xaxes(rangeslider_visible=False)
    fig.update_layout(
        height=120 + 260 * len(pairs),
        title=f"{coin}: daily candles per exchange, CoinCap's d1 average over them",
    )
    return fig


def spread(prices: pd.DataFrame, warn_pct: float) -> go.Figure:
    """The sources' spread per day (CoinCap d1 and the exchanges' VWAPs), against the warning
    threshold; hovering names the source farthest from the median."""
    spread_pct = prices["spread_pct"].astype(float)
    fig = go.Figure(
        go.Bar(
            x=prices["day"],
            y=spread_pct,
            marker_color=["#d62728" if s > warn_pct else "#2ca02c" for s in spread_pct],
            customdata=list(zip(prices["outlier"].fillna("-"), prices["sources"], strict=True)),
            hovertemplate="%{x}: spread %{y:.3f}%<br>farthest: %{customdata[0]}"
            "<br>%{customdata[1]} prices<extra></extra>",
            name="spread",
        )
    )
    fig.add_hline(y=warn_pct, line_dash="dash", annotation_text=f"warning ({warn_pct:g}%)")
    fig.update_layout(title="Spread of the day's prices across sources (%)", yaxis_title="%")
    return fig
