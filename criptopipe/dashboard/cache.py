"""How pages read: every query through `cached` (its result kept for a minute per data source,
so a page renders from memory on every rerun a widget triggers), and what an empty page says."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from criptopipe.dashboard import charts
from criptopipe.dashboard import queries as q

TTL_SECONDS = 60
EMPTY = (
    "No data yet. Load some with `make run` (30 days of history and the latest snapshots; "
    "without COINCAP_API_KEY it uses the synthetic sandbox), then reload this page."
)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _cached(src: q.Sources, name: str, *args: Any) -> Any:
    return getattr(q, name)(src, *args)


def cached(name: str, *args: Any) -> Any:
    """queries.<name>(sources, *args), cached per data source for TTL_SECONDS."""
    return _cached(q.Sources.from_settings(), name, *args)


def fetched(frame: pd.DataFrame) -> str:
    """When a snapshot was fetched, as stored: '2026-11-30 13:02 UTC' (or a span)."""
    times = pd.to_datetime(frame["fetched_at"], utc=True).dropna()
    if times.empty:
        return "at an unknown time"
    first, last = times.min(), times.max()
    shown = first.strftime("%Y-%m-%d %H:%M UTC")
    return shown if last - first < pd.Timedelta(minutes=1) else f"{shown} to {last:%H:%M UTC}"


@st.cache_resource(ttl=TTL_SECONDS, show_spinner=False, max_entries=64)
def figure(builder: str, *args: Any) -> go.Figure:
    """charts.<builder>(*args), the same object for a minute: a rerun or the next visitor draws
    it without building it again (plotly validates every property as a figure is built, a
    good part of a warm page's time). Kept as a resource, not pickled: unpickling a figure
    would validate it all over again. Nobody mutates a figure after it is built."""
    return getattr(charts, builder)(*args)
