"""Data-quality rules over a slice's rows: pure functions, DataFrame in, verdict out.

The Dagster checks (`checks.py`) read the slice from the stores and call these; tests build
frames that break each rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Verdict:
    """A rule's outcome in plain data, so the rules stay free of Dagster and the same verdict
    feeds the asset check and the `coincap.check_results` row."""

    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def duplicate_keys(frame: pd.DataFrame, key: tuple[str, ...]) -> Verdict:
    """Two rows for one natural key make every downstream sum wrong; the primary key prevents
    it in PostgreSQL, so this guards against a dropped key or a write around the IO manager."""
    if frame.empty:
        return Verdict(True, "no rows")
    dupes = frame[frame.duplicated(list(key), keep=False)]
    if dupes.empty:
        return Verdict(True, f"{len(frame)} rows, every ({', '.join(key)}) unique")
    sample = [tuple(str(v) for v in r) for r in dupes[list(key)].head(10).itertuples(index=False)]
    return Verdict(False, f"{len(dupes)} rows share a natural key", {"examples": sample})


def valid_prices(frame: pd.DataFrame, column: str = "price_usd") -> Verdict:
    """A price is never absent or below zero in CoinCap's contract (unlike supply or volume,
    which may be null); either means a parsing or mapping bug upstream."""
    if frame.empty:
        return Verdict(True, "no rows")
    values = frame[column]
    nulls = int(values.isna().sum())
    negative = int(sum(1 for v in values if v is not None and not pd.isna(v) and Decimal(v) < 0))
    ok = nulls == 0 and negative == 0
    return Verdict(
        ok,
        "every price present and non-negative"
        if ok
        else f"{nulls} null and {negative} negative {column} values",
        {"null_prices": nulls, "negative_prices": negative},
    )


def same_keys(pg_keys: set[tuple[Any, ...]], mongo_keys: set[tuple[Any, ...]]) -> Verdict:
    """The raw archive is the source for rebuilds (`replay`): a key in one store only means a
    half-done write, and a replay would silently lose or resurrect rows."""
    only_pg, only_mongo = pg_keys - mongo_keys, mongo_keys - pg_keys
    ok = not only_pg and not only_mongo
    return Verdict(
        ok,
        f"PostgreSQL and MongoDB hold the same {len(pg_keys)} keys"
        if ok
        else f"{len(only_pg)} keys only in PostgreSQL, {len(only_mongo)} only in MongoDB",
        {
            "postgres_keys": len(pg_keys),
            "mongo_keys": len(mongo_keys),
            "only_postgres": [list(map(str, k)) for k in sorted(only_pg, key=str)[:20]],
            "only_mongo": [list(map(str, k)) for k in sorted(only_mongo, key=str)[:20]],
        },
    )


def complete_days(
    frame: pd.DataFrame, coins: list[str], first: date, end: date, day_col: str = "day"
) -> Verdict:
    """Every coin has a row for every day of [first, end). CoinCap's history has real holes, so
    the missing pairs are listed (first 30 days of the first 50 coins) rather than fixed."""
    have = set(zip(frame["coin_id"], frame[day_col], strict=True)) if not frame.empty else set()
    days = [first + timedelta(days=i) for i in range((end - first).days)]
    missing = {c: [str(d) for d in days if (c, d) not in have] for c in coins}
    missing = {c: ds for c, ds in missing.items() if ds}
    holes = sum(len(v) for v in missing.values())
    return Verdict(
        holes == 0,
        f"all {len(coins)} coins have all {len(days)} days"
        if not holes
        else f"{holes} (coin, day) pairs missing for {len(missing)} coins (CoinCap has holes)",
        {"missing_pairs": holes, "missing": {c: v[:30] for c, v in list(missing.items())[:50]}},
    )


def empty_answers(
    held: dict[str, int], what: str, window: str, source: str = "CoinCap", unit: str = "coin"
) -> Verdict:
    """Coins CoinCap (pairs an exchange) answered nothing for while the stores held their rows.
    The write left them out (an empty but valid answer never erases history), so their data is
    as old as the previous load: a human should know, and may rerun them later."""
    if not held:
        return Verdict(True, f"{source} answered {what} for every {unit} the stores hold", {})
    named = ", ".join(f"{c} ({n} stored rows)" for c, n in list(held.items())[:10])
    more = f" and {len(held) - 10} more" if len(held) > 10 else ""
    return Verdict(
        False,
        f"{source} answered no {what} in {window} for {named}{more}: left out of the write, "
        "their stored rows were kept, not erased",
        {"held_back": dict(list(held.items())[:100]), "coins": len(held)},
    )


def price_jumps(history: pd.DataFrame, threshold: float = 0.5) -> Verdict:
    """Day-over-day moves larger than `threshold` (0.5 = 50%) per coin: real on some days for
    small coins, so a warning for a human; only consecutive days are compared (a hole is not a
    jump)."""
    if history.empty:
        return Verdict(True, "no rows")
    jumps = []
    for coin, rows in history.sort_values(["coin_id", "day"]).groupby("coin_id"):
        prev_day, prev = None, None
        for day, price in zip(rows["day"], rows["price_usd"], strict=True):
            if prev is not None and prev > 0 and prev_day == day - timedelta(days=1):
                change = float(Decimal(price) / Decimal(prev) - 1)
                if abs(change) > threshold:
                    jumps.append({"coin": coin, "day": str(day), "change": round(change, 4)})
            prev_day, prev = day, Decimal(price)
    return Verdict(
        not jumps,
        f"no day-over-day move beyond {threshold:.0%}"
        if not jumps
        else f"{len(jumps)} day-over-day moves beyond {threshold:.0%}",
        {"jumps": jumps[:50], "threshold": threshold},
    )


def volume_shares(
    markets: pd.DataFrame, markets_per_coin: int | None, tolerance: float = 2.0
) -> Verdict:
    """Each coin's markets' volume shares add up to ~100% (at most 100% when the list was cut
    at `markets_per_coin`)."""
    if markets.empty:
        return Verdict(True, "no rows")
    bad = {}
    sums = {}
    for coin, rows in markets.groupby("coin_id"):
        total = float(sum(Decimal(v) for v in rows["volume_percent"] if v is not None))
        sums[coin] = round(total, 3)
        complete = markets_per_coin is None or len(rows) < markets_per_coin
        if total > 100 + tolerance or (complete and total < 100 - tolerance):
            bad[coin] = round(total, 3)
    return Verdict(
        not bad,
        "every coin's volume shares add up"
        if not bad
        else f"{len(bad)} coins' volume shares do not add up to ~100%",
        {"bad": bad, "sums": dict(list(sums.items())[:50])},
    )


def sources_agree(frame: pd.DataFrame, warn_pct: float, error_pct: float) -> Verdict:
    """CoinCap's d1 average and the exchanges' VWAPs describe the same day's price: a spread
    wider than `warn_pct` (a warning) names the coin, the day and the source farthest from the
    median; a price further than `error_pct` from the median (an error) is a wrong mapping
    (a ticker collision, a rename) or a broken source, not a market. `metadata["level"]` says
    which: ok, warning or error."""
    if frame.empty:
        return Verdict(True, "no rows", {"level": "ok", "rows": 0})
    spread = frame["spread_pct"].map(lambda v: float(v) if v is not None else 0.0)
    off = frame["outlier_pct"].map(lambda v: abs(float(v)) if v is not None else 0.0)
    wide, wrong = frame[spread > warn_pct], frame[off > error_pct]
    shown = wrong if len(wrong) else wide

    def line(r: Any) -> str:
        pair = " (of 2 prices: either may be off)" if int(r.sources) == 2 else ""
        return (
            f"{r.coin_id} {r.day}: spread {float(r.spread_pct):.2f}%, {r.outlier} "
            f"{float(r.outlier_pct):+.2f}% from the median{pair}"
        )

    examples = [line(r) for r in shown.sort_values("spread_pct", ascending=False).itertuples()]
    metadata: dict[str, Any] = {
        "rows": len(frame),
        "widest_spread_pct": round(float(spread.max()), 4),
        "warn_pct": warn_pct,
        "error_pct": error_pct,
        "disagreements": examples[:50],
        "outliers_by_source": {
            str(k): int(n) for k, n in shown["outlier"].value_counts().sort_index().items()
        },
    }
    if len(wrong):
        metadata["level"] = "error"
        text = f"{len(wrong)} (coin, day) with a price more than {error_pct:g}% from the median"
    elif len(wide):
        metadata["level"] = "warning"
        text = f"{len(wide)} (coin, day) whose sources spread wider than {warn_pct:g}%"
    else:
        metadata["level"] = "ok"
        return Verdict(
            True,
            f"{len(frame)} (coin, day): every spread within {warn_pct:g}% (widest "
            f"{float(spread.max()):.2f}%)",
            metadata,
        )
    return Verdict(False, f"{text}: {'; '.join(examples[:3])}", metadata)
