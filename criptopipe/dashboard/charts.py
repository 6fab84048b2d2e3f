"""The dashboard's Plotly figures: frames in, figures out (no Streamlit, no database).

Every time axis is a day axis (`day_axis`): dates, never times of day, padded half a day each
side, so one day of data draws one readable bar or point and a year draws months. Every figure
says in its title what it shows and in its axis titles in what unit; legends sit above the plot,
where they have the full width.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
DAY_MS = 86_400_000
LEGEND_ON_TOP = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0}
#: a line with this many points or fewer also draws its points (one day is one dot)
MARKERS_UP_TO = 45


def day_axis(fig: go.Figure, days: pd.Series, **where: int) -> None:
    """Dates only on the x axis, with ticks a person reads at a glance for the span shown."""
    first, last = pd.Timestamp(days.min()), pd.Timestamp(days.max())
    span = (last - first).days + 1
    if span <= 14:
        tick: dict[str, object] = {"dtick": DAY_MS, "tickformat": "%b %-d"}
    elif span <= 120:
        tick = {"dtick": 7 * DAY_MS, "tickformat": "%b %-d"}
    elif span <= 800:
        tick = {"dtick": "M1", "tickformat": "%b %Y"}
    else:
        tick = {"dtick": "M12", "tickformat": "%Y"}
    half = timedelta(hours=12)
    fig.update_xaxes(type="date", range=[first - half, last + half], **tick, **where)


def price_history(history: pd.DataFrame, coin: str, log: bool) -> go.Figure:
    """Daily price over the window the page selected; log scale for multi-year moves."""
    fig = go.Figure(
        go.Scatter(
            x=history["day"],
            y=history["price_usd"].astype(float),
            mode="lines+markers" if len(history) <= MARKERS_UP_TO else "lines",
            hovertemplate="%{x|%Y-%m-%d}: $%{y:,.2f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"{coin}: daily price, the 24-hour average (CoinCap d1)",
        yaxis={
            "title": "USD" + (" (log scale)" if log else ""),
            "type": "log" if log else "linear",
            "tickprefix": "$",
            "tickformat": ",.4~s" if log else ",.4~f",
        },
    )
    day_axis(fig, history["day"])
    return fig


def markets_by_exchange(markets: pd.DataFrame, top: int = 15, quotes: int = 5) -> go.Figure:
    """24h volume per exchange (the `top` by volume), stacked by quote currency: the `quotes`
    largest by name, the rest as 'other quotes' (a legend that fits)."""
    frame = markets.assign(volume=markets["volume_usd_24hr"].astype(float).fillna(0.0))
    keep = list(frame.groupby("exchange_id")["volume"].sum().nlargest(top).index)
    frame = frame[frame["exchange_id"].isin(keep)]
    big = list(frame.groupby("quote_symbol")["volume"].sum().nlargest(quotes).index)
    frame = frame.assign(
        quote=frame["quote_symbol"].where(frame["quote_symbol"].isin(big), "other quotes")
    )
    fig = go.Figure()
    for quote in [*big, "other quotes"]:
        part = frame[frame["quote"] == quote]
        if part.empty:
            continue
        per = part.groupby("exchange_id")["volume"].sum()
        fig.add_bar(
            x=list(per.index),
            y=per.to_numpy(),
            name=str(quote),
            hovertemplate="%{x}: $%{y:,.0f}<extra>" + str(quote) + "</extra>",
        )
    fig.update_layout(
        barmode="stack",
        title="24h volume by exchange, stacked by quote currency",
        yaxis={"title": "USD, last 24 hours", "tickprefix": "$", "tickformat": "~s"},
        xaxis={"title": "exchange", "categoryorder": "array", "categoryarray": keep},
        legend={**LEGEND_ON_TOP, "title": {"text": "quote"}},
        margin={"t": 90},
    )
    return fig


def supply(history: pd.DataFrame, max_supply: float | None, symbol: str) -> go.Figure:
    """Circulating supply over time as a line (its changes are small next to its size: a filled
    area would be a flat block), with the max supply as a ceiling when the coin has one."""
    fig = go.Figure(
        go.Scatter(
            x=history["day"],
            y=history["circulating_supply"].astype(float),
            mode="lines+markers" if len(history) <= MARKERS_UP_TO else "lines",
            name="circulating",
            hovertemplate="%{x|%Y-%m-%d}: %{y:,.0f}<extra></extra>",
        )
    )
    if max_supply:
        fig.add_hline(
            y=max_supply,
            line_dash="dash",
            annotation_text=f"max supply {max_supply:,.0f}",
            annotation_position="bottom right",
        )
    fig.update_layout(
        title="Circulating supply by day (CoinCap d1 history)",
        yaxis={"title": f"{symbol} in circulation", "tickformat": "~s"},
        showlegend=False,
    )
    day_axis(fig, history["day"])
    return fig


def volume_share(share: pd.DataFrame, top: int = 15) -> go.Figure:
    """Share of volume by exchange, largest first; beyond the `top`, one 'other' bar. Bars
    carry their own labels: no legend to clip."""
    names = list(share["exchange_id"].head(top))
    values = [float(v) for v in share["share %"].head(top)]
    rest = float(share["share %"].iloc[top:].sum())
    if rest > 0:
        names.append(f"other ({len(share) - top})")
        values.append(rest)
    fig = go.Figure(
        go.Bar(
            x=values,
            y=names,
            orientation="h",
            text=[f"{v:.1f}%" for v in values],
            textposition="outside",
            hovertemplate="%{y}: %{x:.2f}% of the volume<extra></extra>",
        )
    )
    fig.update_layout(
        title="Share of 24h volume by exchange, across the tracked coins",
        xaxis={"title": "share of 24h USD volume (%)", "ticksuffix": "%"},
        yaxis={"autorange": "reversed", "title": None},
        height=max(320, 60 + 26 * len(names)),
        margin={"l": 140},
    )
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
                        f"{day}: {'-' if pd.isna(n) else f'{int(n):,}'} rows"
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
    # weeks are columns: the axis is labelled by each week's Monday
    day_axis(fig, pd.Series(weeks))
    fig.update_layout(
        height=150 + 140 * len(assets),
        title="Days loaded per dataset (columns are weeks, labelled by their Monday)",
    )
    return fig


def credits_vs_budget(burn: pd.DataFrame, budget: int | None, other: pd.DataFrame) -> go.Figure:
    """Credits per day this month at the budgeted CoinCap URL (bars) and their running total
    against the monthly budget; credits spent elsewhere (a sandbox) as grey bars of their own,
    never added to the total."""
    fig = go.Figure()
    fig.add_bar(
        x=burn["day"],
        y=burn["credits"],
        name="CoinCap credits that day",
        hovertemplate="%{x|%Y-%m-%d}: %{y:,} credits<extra></extra>",
    )
    fig.add_scatter(
        x=burn["day"],
        y=burn["cumulative"],
        name="CoinCap, month to date",
        mode="lines+markers",
        hovertemplate="%{x|%Y-%m-%d}: %{y:,} so far<extra></extra>",
    )
    if not other.empty and other["credits"].sum():
        fig.add_bar(
            x=other["day"],
            y=other["credits"],
            name="sandbox credits (synthetic, not budgeted)",
            marker_color="#b0b0b0",
            hovertemplate="%{x|%Y-%m-%d}: %{y:,} sandbox credits<extra></extra>",
        )
    if budget:
        fig.add_hline(
            y=budget,
            line_dash="dash",
            line_color="red",
            annotation_text=f"budget {budget:,}",
            annotation_position="top left",
        )
    fig.update_layout(
        title="Credits spent this month" + (f" (budget {budget:,})" if budget else ""),
        yaxis={"title": "credits", "tickformat": ","},
        legend=LEGEND_ON_TOP,
        margin={"t": 90},
    )
    day_axis(fig, burn["day"])
    return fig
