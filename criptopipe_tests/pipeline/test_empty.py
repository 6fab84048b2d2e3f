"""Which coins an empty answer holds back from a write: only those whose rows the stores hold
inside the slice (pure rule; the assets feed it both stores' keys)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from criptopipe.pipeline.empty import hold_back_empty
from criptopipe.storage.slices import Slice

D = date(2024, 1, 1)
WEEK = Slice(D, D + timedelta(days=7), frozenset({"btc", "eth", "sol"}))


def days(coin: str, first: int, last: int) -> list[tuple[str, date]]:
    return [(coin, D + timedelta(days=i)) for i in range(first, last + 1)]


def test_an_answered_coin_stays_and_an_empty_stored_coin_is_held_back() -> None:
    kept = hold_back_empty(
        [WEEK], days("btc", 0, 6) + days("sol", 3, 3), days("eth", 0, 6) + days("btc", 0, 6)
    )
    assert kept.slices == [Slice(WEEK.start, WEEK.end, frozenset({"btc", "sol"}))]
    assert kept.held == {"eth": 7} and kept.empty == ["eth"]


def test_an_empty_coin_with_nothing_stored_in_the_slice_stays() -> None:
    # eth's stored rows lie outside the week: nothing of the slice to erase
    outside = [("eth", D - timedelta(days=1)), ("eth", D + timedelta(days=7))]
    kept = hold_back_empty([WEEK], days("btc", 0, 6) + days("sol", 0, 6), outside)
    assert kept.slices == [WEEK] and kept.held == {} and kept.empty == ["eth"]


def test_each_slice_is_judged_alone_and_emptied_slices_are_dropped() -> None:
    gap1 = Slice(D, D + timedelta(days=2), frozenset({"eth"}))
    gap2 = Slice(D + timedelta(days=5), D + timedelta(days=7), frozenset({"eth"}))
    # eth answered the first gap only; the archive holds a day of the second one
    kept = hold_back_empty([gap1, gap2], days("eth", 0, 1), days("eth", 6, 6))
    assert kept.slices == [gap1] and kept.held == {"eth": 1}


def test_a_slice_of_every_coin_is_refused() -> None:
    with pytest.raises(ValueError, match="must name its coins"):
        hold_back_empty([Slice(D, D + timedelta(days=1))], [], [])
