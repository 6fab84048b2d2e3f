"""Day arithmetic shared by the imitated exchanges (UTC days, Binance ms, Kraken seconds)."""

from __future__ import annotations

from datetime import date, timedelta

DAY_MS = 86_400_000
EPOCH = date(1970, 1, 1)


def ms_day(ms: int) -> date:
    return EPOCH + timedelta(days=ms // DAY_MS)


def day_ms(day: date) -> int:
    return (day - EPOCH).days * DAY_MS


def day_s(day: date) -> int:
    return day_ms(day) // 1000
