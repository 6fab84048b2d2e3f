"""Each data-quality rule fails on data built to break it and passes on good data."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pandas as pd

from criptopipe.checks import rules


def history(prices: dict[str, list[str]], first: date = date(2024, 1, 1)) -> pd.DataFrame:
    rows = [
        {"coin_id": coin, "day": first + timedelta(days=i), "price_usd": Decimal(p)}
        for coin, series in prices.items()
        for i, p in enumerate(series)
    ]
    return pd.DataFrame(rows).astype(object)


def test_duplicate_keys() -> None:
    good = history({"btc": ["1", "2"]})
    assert rules.duplicate_keys(good, ("coin_id", "day")).passed
    bad = pd.concat([good, good.head(1)])
    verdict = rules.duplicate_keys(bad, ("coin_id", "day"))
    assert not verdict.passed and verdict.metadata["examples"]


def test_valid_prices() -> None:
    assert rules.valid_prices(history({"btc": ["1", "0"]})).passed
    bad = history({"btc": ["1", "-3"]})
    assert rules.valid_prices(bad).metadata["negative_prices"] == 1
    bad.loc[0, "price_usd"] = None
    verdict = rules.valid_prices(bad)
    assert not verdict.passed and verdict.metadata["null_prices"] == 1


def test_same_keys() -> None:
    keys = {("btc", date(2024, 1, 1)), ("eth", date(2024, 1, 1))}
    assert rules.same_keys(keys, set(keys)).passed
    verdict = rules.same_keys(keys, {("btc", date(2024, 1, 1))})
    assert not verdict.passed and verdict.metadata["only_postgres"] == [["eth", "2024-01-01"]]


def test_complete_days_lists_the_holes() -> None:
    frame = history({"btc": ["1", "2", "3"], "eth": ["1"]})
    verdict = rules.complete_days(frame, ["btc", "eth"], date(2024, 1, 1), date(2024, 1, 4))
    assert not verdict.passed
    assert verdict.metadata["missing"] == {"eth": ["2024-01-02", "2024-01-03"]}
    full = rules.complete_days(frame, ["btc"], date(2024, 1, 1), date(2024, 1, 4))
    assert full.passed


def test_price_jumps() -> None:
    assert rules.price_jumps(history({"btc": ["100", "120", "110"]}), 0.5).passed
    verdict = rules.price_jumps(history({"btc": ["100", "260", "250"]}), 0.5)
    assert not verdict.passed and verdict.metadata["jumps"][0]["day"] == "2024-01-02"


def test_volume_shares() -> None:
    def markets(shares: list[str]) -> pd.DataFrame:
        return pd.DataFrame({"coin_id": ["btc"] * len(shares), "volume_percent": shares})

    assert rules.volume_shares(markets(["60", "40"]), markets_per_coin=50).passed
    assert not rules.volume_shares(markets(["60", "30"]), markets_per_coin=50).passed  # complete
    assert rules.volume_shares(markets(["60", "30"]), markets_per_coin=2).passed  # cut at 2
    assert not rules.volume_shares(markets(["80", "40"]), markets_per_coin=2).passed
