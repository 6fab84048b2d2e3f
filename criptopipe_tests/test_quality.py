"""Each data-quality rule fails on data built to break it and passes on good data."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd

from criptopipe import quality as rules


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


def test_price_jumps_compare_consecutive_days_only() -> None:
    frame = history({"btc": ["100", "300"]})
    frame.loc[1, "day"] = date(2024, 1, 3)  # a hole on the 2nd: not a one-day move
    assert rules.price_jumps(frame, 0.5).passed
    drop = rules.price_jumps(history({"btc": ["100", "40"]}), 0.5)
    assert not drop.passed and drop.metadata["jumps"][0]["change"] == -0.6


def test_complete_days_lists_a_tracked_coin_with_no_rows() -> None:
    verdict = rules.complete_days(
        history({"btc": ["1", "2"]}), ["btc", "ada"], date(2024, 1, 1), date(2024, 1, 3)
    )
    assert verdict.metadata["missing"] == {"ada": ["2024-01-01", "2024-01-02"]}
    assert verdict.metadata["missing_pairs"] == 2
    empty = rules.complete_days(pd.DataFrame(), ["ada"], date(2024, 1, 1), date(2024, 1, 2))
    assert not empty.passed


def test_volume_shares_skip_null_shares() -> None:
    frame = pd.DataFrame({"coin_id": ["btc"] * 3, "volume_percent": ["70", None, "30"]})
    assert rules.volume_shares(frame, markets_per_coin=None).passed


def test_rules_import_without_dagster() -> None:
    """The rules are pure: importing them must not pull in Dagster (the dashboard may use them)."""
    code = "import sys, criptopipe.quality; print('dagster' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
