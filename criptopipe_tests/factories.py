"""Frames shaped exactly like the transform's output, for storage tests and benchmarks."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pandas as pd

from criptopipe.datasets import ASSET_HISTORY
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


def pipeline_resources(
    pg_url: str,
    schema: str,
    mongo_uri: str,
    base_url: str,
    coins: list[str],
    exchange_urls: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The Definitions' resources, pointed at the test servers and a sandbox (and, given their
    URLs, the exchange sandbox, with CCXT's rate limit at 1 ms and short backoffs)."""
    from criptopipe.defs.exchange_resource import ExchangesResource
    from criptopipe.defs.io_manager import WarehouseIOManager
    from criptopipe.defs.resources import (
        CoinCapResource,
        CoinUniverseResource,
        MongoResource,
        PostgresResource,
    )

    postgres = PostgresResource(url=pg_url, schema_name=schema)
    mongo = MongoResource(uri=mongo_uri)
    return {
        "coincap": CoinCapResource(api_key="test", base_url=base_url),
        "exchanges": ExchangesResource(
            url_overrides=exchange_urls or {},
            rate_limit_ms={ex: 1 for ex in exchange_urls or {}},
            timeout_ms=3000,
            backoff_base_s=0.05,
            backoff_max_s=0.2,
        ),
        "universe": CoinUniverseResource(coins=coins),
        "postgres": postgres,
        "mongo": mongo,
        "warehouse_io_manager": WarehouseIOManager(postgres=postgres, mongo=mongo),
    }
