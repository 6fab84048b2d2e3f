"""Frames shaped exactly like the transform's output, for storage tests and benchmarks."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pandas as pd

from criptopipe.storage.datasets import ASSET_HISTORY
from criptopipe.transform.frames import frame_columns


def history_frame(
    coins: list[str], first: date, days: int, fetched_at: datetime, salt: int = 0
) -> pd.DataFrame:
    rows = []
    for c_i, coin in enumerate(coins):
        for d in range(days):
            day = first + timedelta(days=d)
            price = f"{1000 + c_i * 7 + d * 0.25 + salt:.18f}"
            when = datetime.combine(day, time(), tzinfo=timezone.utc)
            record = {
                "priceUsd": price,
                "time": int(when.timestamp() * 1000),
                "circulatingSupply": "19000000.000000000000000000",
                "date": f"{day.isoformat()}T00:00:00.000Z",
            }
            rows.append(
                (
                    coin,
                    day,
                    Decimal(price),
                    Decimal("19000000.000000000000000000"),
                    when,
                    fetched_at,
                    record,
                    f"/assets/{coin}/history?interval=d1",
                )
            )
    return pd.DataFrame.from_records(rows, columns=frame_columns(ASSET_HISTORY)).astype(object)
