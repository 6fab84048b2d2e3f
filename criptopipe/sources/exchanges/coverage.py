"""Why the days of a window without a candle have none: the gaps a fetch reports.

Pure: from what the exchange returned (the first and last candle days it served at all, whether
its answer hit the horizon cap) and what the loaded market says (active or not). Kraken answers
its 720 most recent daily candles whatever `since` says, so an answer that is full and starts
after the window's first day means the older days are beyond its horizon ("not available from
this exchange"), while an answer that is not full means the pair simply started later.
"""

from __future__ import annotations

from datetime import date, timedelta

from criptopipe.sources.exchanges.models import DayGap, GapReason

DAY = timedelta(days=1)


def find_gaps(
    *,
    exchange: str,
    exchange_name: str,
    symbol: str,
    first: date,
    end: date,
    today: date,
    have: set[date],
    first_seen: date | None,
    last_seen: date | None,
    capped: bool,
    horizon: int | None,
    active: bool,
) -> list[DayGap]:
    """The days of [first, end) not in `have`, grouped into ranges with a reason each."""

    def reason(day: date) -> tuple[GapReason, str]:
        if day >= today:
            return GapReason.NOT_CLOSED, "the day is still open (UTC) or in the future"
        if first_seen is None:
            if not active:
                return (
                    GapReason.DELISTED,
                    f"no candle in the window; {exchange} marks {symbol} inactive (delisted)",
                )
            return (
                GapReason.NOT_LISTED_YET,
                f"no candle in the window; {exchange} lists {symbol} as trading, so it was "
                "listed after these days",
            )
        if day < first_seen:
            if capped:
                return (
                    GapReason.BEYOND_HORIZON,
                    f"not available from this exchange: {exchange_name} serves only its "
                    f"{horizon} most recent daily candles (the earliest it served is {first_seen})",
                )
            return (
                GapReason.NOT_LISTED_YET,
                f"not listed yet: the first candle {exchange} has for {symbol} is {first_seen}",
            )
        if last_seen is not None and day > last_seen:
            if not active:
                return (
                    GapReason.DELISTED,
                    f"delisted: {exchange} marks {symbol} inactive; its last candle is {last_seen}",
                )
            return (
                GapReason.MISSING,
                f"{exchange} sent no candle after {last_seen} although {symbol} is trading",
            )
        return GapReason.MISSING, f"{exchange} has no candle for these days"

    gaps: list[DayGap] = []
    day = first
    while day < end:
        if day in have:
            day += DAY
            continue
        why, detail = reason(day)
        start = day
        while day + DAY < end and day + DAY not in have and reason(day + DAY)[0] == why:
            day += DAY
        gaps.append(DayGap(first=start, last=day, reason=why, detail=detail))
        day += DAY
    return gaps
