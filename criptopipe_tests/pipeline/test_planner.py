"""The credit planner's arithmetic and the budget guard (pure logic; the end-to-end comparison
with the sandbox's counter lives in e2e/test_backfill_credits.py)."""

from __future__ import annotations

from datetime import date

import pytest

from criptopipe.pipeline import planner
from criptopipe.pipeline.ingest import find_gaps
from criptopipe.sources.coincap.credits import ENVELOPE_BYTES, HISTORY_POINT_BYTES, credits_for


def test_credits_follow_v3_formula() -> None:
    assert credits_for(0) == 1
    assert credits_for(1) == 2
    assert credits_for(2500) == 2
    assert credits_for(2501) == 3


def test_history_is_one_request_per_coin_per_span() -> None:
    est = planner.estimate_history(100, date(2024, 1, 1), date(2025, 1, 1), 365)
    # 366 days in 2024: two requests per coin with a 365-day span
    assert est.requests == 200
    est = planner.estimate_history(100, date(2024, 1, 1), date(2024, 12, 31), 365)
    assert est.requests == 100
    per_request = ENVELOPE_BYTES + 365 * HISTORY_POINT_BYTES
    assert est.credits == 100 * credits_for(per_request)


def test_top_n_universe_adds_the_asset_list_call() -> None:
    plain = planner.estimate_history(10, date(2024, 1, 1), date(2024, 2, 1), 365)
    top = planner.estimate_history(10, date(2024, 1, 1), date(2024, 2, 1), 365, resolve_top_n=True)
    assert top.requests == plain.requests + 1
    assert top.credits > plain.credits


def test_chunks_cover_the_window_exactly() -> None:
    assert planner.history_chunks(91, 30) == [30, 30, 30, 1]
    assert planner.history_chunks(0, 30) == []
    assert sum(planner.history_chunks(1000, 365)) == 1000


def test_budget_guard_refuses_with_what_is_left() -> None:
    assert "guard off" in planner.check_budget(500, None, 0)
    assert "remain" in planner.check_budget(500, 2500, 1000)
    with pytest.raises(planner.BudgetExceededError) as err:
        planner.check_budget(1600, 2500, 1000)
    text = str(err.value)
    assert "1600" in text and "1500" in text and "ignore_budget" in text


def test_find_gaps_groups_consecutive_missing_days() -> None:
    have = {("btc", date(2024, 1, d)) for d in (1, 2, 5, 6)}
    gaps = find_gaps(["btc", "eth"], date(2024, 1, 1), date(2024, 1, 8), have)
    assert gaps == [
        ("btc", date(2024, 1, 3), date(2024, 1, 5)),
        ("btc", date(2024, 1, 7), date(2024, 1, 8)),
        ("eth", date(2024, 1, 1), date(2024, 1, 8)),
    ]
    full = {("btc", date(2024, 1, d)) for d in range(1, 8)}
    assert find_gaps(["btc"], date(2024, 1, 1), date(2024, 1, 8), full) == []
