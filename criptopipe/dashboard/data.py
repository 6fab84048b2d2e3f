"""The dashboard's arithmetic: KPIs, shares, calendars and burn-down from query results.

Pure functions over DataFrames (no Streamlit, no database), so the numbers a page shows are the
numbers these return, and they can be checked against the tables directly.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pandas as pd


def money(value: Any) -> str:
    """USD with a K/M/B/T suffix: a KPI tile has room for about eight characters."""
    if value is None or pd.isna(value):
        return "-"
    v = float(value)
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(v) >= size:
            return f"${v / size:,.2f}{unit}"
    return f"${v:,.2f}"


def usd(value: Any) -> str:
    """A price in full, with thousands separators: '$60,348.12'; below a dollar, four
    significant digits ('$0.01234'), so a small coin's price is never '$0.00'."""
    if value is None or pd.isna(value):
        return "-"
    v = float(value)
    if v != 0 and abs(v) < 1:
        return f"${v:,.{max(2, 3 - math.floor(math.log10(abs(v))))}f}"
    return f"${v:,.2f}"


def quantity(value: Any) -> str:
    """A coin amount (supply) with a suffix, or '-' when CoinCap sent none (no max supply)."""
    if value is None or pd.isna(value):
        return "-"
    return money(value).removeprefix("$")


@dataclass(frozen=True)
class MarketKpis:
    market_cap: Decimal
    change_24h_pct: float | None  # market-cap-weighted over coins that report a change
    btc_dominance_pct: float | None  # None when bitcoin is not tracked
    coins: int
    snapshot_date: date


def market_kpis(assets: pd.DataFrame) -> MarketKpis:
    """KPIs of one raw_assets snapshot, in Decimal until the end so they match the table exactly."""
    caps = [Decimal(v) for v in assets["market_cap_usd"] if v is not None and not pd.isna(v)]
    cap = sum(caps, Decimal(0))
    btc = assets.loc[assets["coin_id"] == "bitcoin", "market_cap_usd"]
    dominance = (
        float(Decimal(btc.iloc[0]) / cap * 100) if len(btc) and btc.iloc[0] and cap else None
    )
    weighted = assets.dropna(subset=["market_cap_usd", "change_percent_24hr"])
    weight = sum((Decimal(w) for w in weighted["market_cap_usd"]), Decimal(0))
    change = (
        float(
            sum(
                (
                    Decimal(w) * Decimal(c)
                    for w, c in zip(
                        weighted["market_cap_usd"], weighted["change_percent_24hr"], strict=True
                    )
                ),
                Decimal(0),
            )
            / weight
        )
        if weight
        else None
    )
    return MarketKpis(cap, change, dominance, len(assets), assets["snapshot_date"].iloc[0])


def movers(assets: pd.DataFrame, n: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(top gainers, top losers) by 24h change, n each, as display frames."""
    known = assets.dropna(subset=["change_percent_24hr"])
    frame = pd.DataFrame(
        {
            "symbol": known["symbol"],
            "name": known["name"],
            "price": known["price_usd"].astype(float),
            "24h %": known["change_percent_24hr"].astype(float),
        }
    ).sort_values("24h %")
    gainers = frame[frame["24h %"] > 0].iloc[::-1].head(n)
    losers = frame[frame["24h %"] < 0].head(n)
    return gainers.reset_index(drop=True), losers.reset_index(drop=True)


def coins_table(assets: pd.DataFrame, trends: dict[str, list[float]]) -> pd.DataFrame:
    """The Market page's sortable table; numbers stay numbers so column sorting is numeric."""
    return pd.DataFrame(
        {
            "rank": assets["rank"],
            "coin": assets["name"],
            "symbol": assets["symbol"],
            "price": assets["price_usd"].astype(float),
            "24h %": assets["change_percent_24hr"].astype(float),
            "market cap": assets["market_cap_usd"].astype(float),
            "volume 24h": assets["volume_usd_24hr"].astype(float),
            "trend": [trends.get(c, []) for c in assets["coin_id"]],
        }
    )


def volume_share(markets: pd.DataFrame, by: str = "exchange_id") -> pd.DataFrame:
    """Share (%) of 24h USD volume per `by`, largest first; markets without volume count as 0."""
    volume = pd.to_numeric(markets["volume_usd_24hr"].astype(float), errors="coerce").fillna(0.0)
    per = volume.groupby(markets[by]).sum().sort_values(ascending=False)
    total = per.sum()
    return pd.DataFrame(
        {
            by: per.index,
            "volume_usd_24hr": per.to_numpy(),
            "share %": (per / total * 100).to_numpy() if total else 0.0,
            "markets": markets.groupby(by).size().reindex(per.index).to_numpy(),
        }
    )


def calendar_frame(loaded: pd.DataFrame) -> pd.DataFrame:
    """days_loaded rows laid out as a calendar: week (its Monday), weekday, and the day's rows as
    a share of the dataset's fullest day -- a partial day shows pale, a missing one blank."""
    if loaded.empty:
        return pd.DataFrame(columns=["asset", "day", "week", "weekday", "rows", "fill"])
    frame = loaded.assign(day=pd.to_datetime(loaded["day"]))
    fullest = frame.groupby("asset")["rows"].transform("max")
    return frame.assign(
        week=frame["day"] - pd.to_timedelta(frame["day"].dt.weekday, unit="D"),
        weekday=frame["day"].dt.weekday,  # 0 = Monday
        fill=frame["rows"] / fullest,
    )


def month_burn(credits: pd.DataFrame, today: date) -> pd.DataFrame:
    """Credits per day of this month with the running total: every day up to today, spent or not,
    so the cumulative line against the budget has no gaps."""
    first = today.replace(day=1)
    days = pd.date_range(first, today, freq="D")
    spent = (
        credits.assign(day=pd.to_datetime(credits["day"]))
        .groupby("day")["credits"]
        .sum()
        .astype(int)
        if not credits.empty
        else pd.Series(dtype=int)
    )
    per_day = spent.reindex(days, fill_value=0)
    return pd.DataFrame(
        {"day": days, "credits": per_day.to_numpy(), "cumulative": per_day.cumsum().to_numpy()}
    )


def month_end(today: date) -> date:
    return today.replace(day=calendar.monthrange(today.year, today.month)[1])


#: days of the month that must have passed before a projection says anything
MIN_PROJECTION_DAYS = 7


@dataclass(frozen=True)
class Projection:
    spent: int
    days: int  # days of the month so far, today included
    month_days: int
    budget: int

    @property
    def per_day(self) -> float:
        return self.spent / self.days

    @property
    def month_total(self) -> float:
        return self.per_day * self.month_days

    @property
    def share(self) -> float:
        return self.month_total / self.budget * 100

    def explain(self, month: str) -> str:
        return (
            f"At this pace the month ends at {self.share:.0f}% of the budget: "
            f"{self.spent:,} credits in the first {self.days} days of {month} "
            f"({self.per_day:,.1f} a day) x {self.month_days} days = "
            f"{self.month_total:,.0f} of {self.budget:,}."
        )


def projection(spent: int, budget: int | None, today: date) -> Projection | None:
    """The month's spend at today's average daily pace, or None while the month is younger than
    MIN_PROJECTION_DAYS days (one busy first day would project an alarm) or has no budget."""
    if not budget or today.day < MIN_PROJECTION_DAYS:
        return None
    return Projection(spent, today.day, month_end(today).day, budget)


def is_sandbox_url(url: str) -> bool:
    """A CoinCap stand-in rather than CoinCap: on this machine, or compose's `sandbox` service.
    Its credits are synthetic and never count against the budget."""
    host = urlsplit(url).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1", "sandbox") or host.endswith(".invalid")


def spend_by_url(credits: pd.DataFrame, budgeted: str, budget: int | None) -> pd.DataFrame:
    """This month's requests and credits per CoinCap URL, the budgeted one first, each saying
    what it is and whether the budget applies to it."""
    columns = ["url", "kind", "requests", "credits", "budget"]
    if credits.empty:
        return pd.DataFrame(columns=columns)
    per = credits.groupby("source")[["requests", "credits"]].sum().astype(int)
    rows = []
    for url, (requests, spent) in per.iterrows():
        url = str(url)
        sandbox = is_sandbox_url(url)
        rows.append(
            {
                "url": url,
                "kind": "sandbox (synthetic data)" if sandbox else "CoinCap",
                "requests": int(requests),
                "credits": int(spent),
                "budget": "no (synthetic)" if sandbox else (f"{budget:,}" if budget else "off"),
            }
        )
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("url", key=lambda u: u != budgeted, kind="stable").reset_index(
        drop=True
    )
