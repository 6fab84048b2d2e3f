"""The sandbox's synthetic market is a pure function of (seed, coin, day)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from criptopipe.sources.coincap.sandbox.universe import Universe


def test_past_days_never_change_as_days_close() -> None:
    """A later closing day only appends: prices and holes of earlier days stay put."""
    uni = Universe(coins=60, seed=3)
    holed = [c.id for c in uni.coins if c.hole_rate > 0]
    for coin in ["bitcoin", "tether", *holed[:3]]:
        early_prices, early_holes = uni._series(coin, date(2024, 1, 1))
        late_prices, late_holes = uni._series(coin, date(2025, 1, 1))
        n = len(early_prices)
        assert np.array_equal(early_prices, late_prices[:n])
        assert np.array_equal(early_holes, late_holes[:n])


def test_real_slugs_first_synthetic_names_and_listing_days() -> None:
    uni = Universe(coins=2500, seed=0)
    assert [c.id for c in uni.coins[:3]] == ["bitcoin", "ethereum", "tether"]
    assert uni.coins[100].id == "synth-coin-0100"
    assert all(c.name.endswith(" (synthetic)") for c in uni.coins)
    assert uni.by_id["bitcoin"].listed == date(2013, 4, 28)
    assert min(c.listed for c in uni.coins[20:]) >= date(2015, 1, 1)
    assert max(c.markets for c in uni.coins) == uni.by_id["bitcoin"].markets >= 150
    assert min(c.markets for c in uni.coins) >= 3


def test_prices_stay_plausible() -> None:
    """Daily moves like crypto's, no zero or runaway prices, stablecoins near 1."""
    uni = Universe(coins=200, seed=1)
    last = date(2025, 12, 31)
    for coin in uni.coins:
        prices, _ = uni._series(coin.id, last)
        assert (prices > 0).all()
        moves = np.abs(np.diff(np.log(prices)))
        assert moves.max() < 0.5
        if coin.id in {"tether", "usd-coin"}:
            assert np.abs(prices - 1).max() < 0.01
    btc = uni.price_on("bitcoin", date(2025, 6, 1))
    assert btc is not None and 10_000 < btc < 500_000


def test_history_for_includes_both_ends() -> None:
    uni = Universe(coins=5)
    points = uni.history_for("bitcoin", date(2024, 2, 1), date(2024, 2, 3))
    assert [p["date"][:10] for p in points] == ["2024-02-01", "2024-02-02", "2024-02-03"]
    one = uni.history_for("bitcoin", date(2024, 2, 1), date(2024, 2, 1) + timedelta(days=0))
    assert len(one) == 1 and one[0]["priceUsd"] == points[0]["priceUsd"]
