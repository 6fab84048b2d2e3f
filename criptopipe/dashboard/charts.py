"""The dashboard's Plotly figures: frames in, figures out (no Streamlit, no database)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def price_history(history: pd.DataFrame, coin: str, log: bool) -> go.Figure:
    """Daily price over the window the page selected; log scale for multi-year moves."""
    fig = go.Figure(
        go.Scatter(
            x=history["day"],
            y=history["price_usd"].astype(float),
            mode="lines",
            hovertemplate="%{x}: $%{y:,.4f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"{coin}: daily price (USD, CoinCap d1 average)",
        yaxis={"title": "USD" + (" (log)" if log else ""), "type": "log" if log else "linear"},
    )
    return fig


def markets_by_exchange(markets: pd.DataFrame, top: int = 20) -> go.Figure:
    """24h volume per exchange, stacked by quote currency (the `top` exchanges by volume)."""
    frame = markets.assign(volume=markets["volume_usd_24hr"].astype(float).fillna(0.0))
    keep = list(frame.groupby("exchange_id")["volume"].sum().nlargest(top).index)
    frame = frame[frame["exchange_id"].isin(keep)]
    fig = go.Figure()
    for quote, part in frame.groupby("quote_symbol", sort=True):
        per = part.groupby("exchange_id")["volume"].sum()
        fig.add_bar(x=list(per.index), y=per.to_numpy(), name=str(quote))
    fig.update_layout(
        barmode="stack",
        title="24h volume by exchange and quote currency (USD)",
        yaxis_title="USD",
        legend_title="quote",
        xaxis={"categoryorder": "array", "categoryarray": keep},
    )
    return fig


def supply(history: pd.DataFrame, max_supply: float | None) -> go.Figure:
    """Circulating supply over time, with the coin's max supply as a ceiling when it has one."""
    fig = go.Figure(
        go.Scatter(
            x=history["day"],
            y=history["circulating_supply"].astype(float),
            fill="tozeroy",
            mode="lines",
            name="circulating",
        )
    )
    if max_supply:
        fig.add_hline(y=max_supply, line_dash="dash", annotation_text="max supply")
    fig.update_layout(title="Circulating supply")
    return fig


def volume_share(share: pd.DataFrame, top: int = 15) -> go.Figure:
    """Share of volume by exchange; beyond the `top` largest, one 'other' slice."""
    names = list(share["exchange_id"].head(top))
    values = list(share["share %"].head(top))
    rest = float(share["share %"].iloc[top:].sum())
    if rest > 0:
        names.append("other")
        values.append(rest)
    fig = go.Figure(go.Pie(labels=names, values=values, hole=0.4, sort=False))
    fig.update_layout(title="Share of 24h volume across the tracked coins")
    return fig


def days_calendar(cal: pd.DataFrame) -> go.Figure:
    """One calendar strip per dataset (weeks across, weekdays down), coloured by how full each
    day is: a gap in the backfill or a partial day is visible at a glance.

    Each strip is a full weeks x 7 grid (blank where nothing is loaded): plotly.js fails on a
    categorical heatmap whose points do not cover its category list (a one-day dataset)."""
    assets = list(dict.fromkeys(cal["asset"]))
    weeks = pd.date_range(cal["week"].min(), cal["week"].max(), freq="7D")
    fig = make_subplots(
        rows=len(assets), cols=1, shared_xaxes=True, subplot_titles=assets, vertical_spacing=0.08
    )
    for i, asset in enumerate(assets, start=1):
        part = cal[cal["asset"] == asset]
        fill = part.pivot(index="weekday", columns="week", values="fill")
        rows = part.pivot(index="weekday", columns="week", values="rows")
        fill = fill.reindex(index=range(7), columns=weeks)
        rows = rows.reindex(index=range(7), columns=weeks)
        days = [[(w + pd.Timedelta(days=d)).date().isoformat() for w in weeks] for d in range(7)]
        fig.add_trace(
            go.Heatmap(
                x=weeks,
                y=WEEKDAYS,
                z=fill.to_numpy().tolist(),
                text=[
                    [
                        f"{day}: {'-' if pd.isna(n) else int(n)} rows"
                        for day, n in zip(d, r, strict=True)
                    ]
                    for d, r in zip(days, rows.to_numpy().tolist(), strict=True)
                ],
                hovertemplate="%{text}<extra></extra>",
                zmin=0,
                zmax=1,
                colorscale="Greens",
                showscale=i == 1,
                colorbar={"title": {"text": "share of<br>fullest day"}},
                xgap=2,
                ygap=2,
            ),
            row=i,
            col=1,
        )
        fig.update_yaxes(autorange="reversed", row=i, col=1, tickfont_size=9)
    fig.update_layout(height=150 + 140 * len(assets), title="Days loaded")
    return fig


def credits_vs_budget(burn: pd.DataFrame, budget: int | None) -> go.Figure:
    """Credits per day this month (bars) and the running total against the monthly budget."""
    fig = go.Figure()
    fig.add_bar(x=burn["day"], y=burn["credits"], name="credits that day")
    fig.add_scatter(x=burn["day"], y=burn["cumulative"], name="month to date", mode="lines")
    if budget:
        fig.add_hline(y=budget, line_dash="dash", line_color="red", annotation_text="budget")
    fig.update_layout(
        title="Credits spent this month" + (f" (budget {budget:,})" if budget else ""),
        yaxis_title="credits",
        xaxis_title=None,
    )
    return fig
