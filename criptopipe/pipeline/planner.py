"""Plan before paying: what a materialization will cost at CoinCap, before any call.

CoinCap v3 bills 1 credit per call plus 1 per started 2,500 bytes of body. The cost of a run is
therefore known in advance from the number of coins, the days, the widest span one history
request may cover and the bytes a record takes. Bytes per record default to what CoinCap's
captured bodies weigh and are re-measured from the MongoDB raw archive when it holds records
(`bytes_per_record_from_archive`), so estimates follow the API's real shapes as they drift.

Dagster-free: the assets use `estimate` for the budget guard, `criptopipe plan` prints it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from criptopipe.sources.coincap.credits import credits_for

#: bytes of one record in CoinCap's JSON body, from the captured v3 bodies (commas included)
DEFAULT_BYTES_PER_RECORD: dict[str, int] = {
    "asset_history": 144,
    "raw_assets": 480,
    "market_snapshots": 215,
}
#: `{"data":[...],"timestamp":1700000000000}` around the records
ENVELOPE_BYTES = 40


class BudgetExceededError(RuntimeError):
    """The estimate of a run exceeds what is left of the month's credit budget."""


@dataclass(frozen=True)
class Estimate:
    asset: str
    requests: int
    bytes: int
    credits: int
    notes: list[str] = field(default_factory=list)

    def __add__(self, other: Estimate) -> Estimate:
        return Estimate(
            asset=f"{self.asset}+{other.asset}",
            requests=self.requests + other.requests,
            bytes=self.bytes + other.bytes,
            credits=self.credits + other.credits,
            notes=[*self.notes, *other.notes],
        )


def _request(records: int, bytes_per_record: int) -> tuple[int, int]:
    size = ENVELOPE_BYTES + records * bytes_per_record
    return size, credits_for(size)


def history_chunks(days: int, span_days: int) -> list[int]:
    """Days per request when `days` are fetched in requests of at most `span_days`."""
    if days <= 0:
        return []
    n = math.ceil(days / span_days)
    return [min(span_days, days - i * span_days) for i in range(n)]


def estimate_history(
    coins: int,
    first: date,
    end: date,
    span_days: int,
    *,
    resolve_top_n: bool = False,
    bytes_per_record: int | None = None,
) -> Estimate:
    """`coins` x ceil(days / span) ranged requests (plus one asset-list call to resolve a top-N
    universe). Coins listed after `first` send fewer points, so this errs on the high side."""
    per = bytes_per_record or DEFAULT_BYTES_PER_RECORD["asset_history"]
    days = (end - first).days
    requests = total_bytes = total_credits = 0
    for chunk in history_chunks(days, span_days):
        size, cost = _request(chunk, per)
        requests += coins
        total_bytes += coins * size
        total_credits += coins * cost
    notes = [
        f"{coins} coins x {len(history_chunks(days, span_days))} request(s) of <= {span_days} days"
    ]
    if resolve_top_n:
        size, cost = _request(coins, DEFAULT_BYTES_PER_RECORD["raw_assets"])
        requests, total_bytes, total_credits = (
            requests + 1,
            total_bytes + size,
            total_credits + cost,
        )
        notes.append("1 asset-list call to resolve the top-N coins")
    return Estimate("asset_history", requests, total_bytes, total_credits, notes)


def estimate_raw_assets(
    coins: int, live_days: int, *, bytes_per_record: int | None = None
) -> Estimate:
    """One asset-list call per live day (archived days are rebuilt for free)."""
    per = bytes_per_record or DEFAULT_BYTES_PER_RECORD["raw_assets"]
    pages = max(1, math.ceil(coins / 2000))
    size, cost = _request(coins, per)
    return Estimate(
        "raw_assets",
        requests=live_days * pages,
        bytes=live_days * size,
        credits=live_days * (cost + pages - 1),
        notes=[f"{live_days} live day(s); older partitions come from the archive at 0 credits"],
    )


def estimate_markets(
    coins: int,
    live_days: int,
    markets_per_coin: int | None,
    *,
    resolve_top_n: bool = False,
    bytes_per_record: int | None = None,
) -> Estimate:
    per = bytes_per_record or DEFAULT_BYTES_PER_RECORD["market_snapshots"]
    markets = markets_per_coin or 100  # CoinCap's default page when unbounded: a floor
    size, cost = _request(markets, per)
    est = Estimate(
        "market_snapshots",
        requests=live_days * coins,
        bytes=live_days * coins * size,
        credits=live_days * coins * cost,
        notes=[f"{coins} coins x {live_days} live day(s), <= {markets} markets each"],
    )
    if resolve_top_n and live_days:
        size, cost = _request(coins, DEFAULT_BYTES_PER_RECORD["raw_assets"])
        est = Estimate(est.asset, est.requests + 1, est.bytes + size, est.credits + cost, est.notes)
    return est


def record_bytes(record: Mapping[str, Any]) -> int:
    """Bytes a record takes in CoinCap's compact JSON body (plus its separating comma)."""
    return len(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()) + 1


def bytes_per_record_from_archive(records: Iterable[Mapping[str, Any]]) -> int | None:
    """Mean size of archived records (a sample is enough); None when there are none."""
    sizes = [record_bytes(r) for r in records]
    return math.ceil(sum(sizes) / len(sizes)) if sizes else None


def check_budget(estimate_credits: int, budget: int | None, spent: int) -> str:
    """Refuse a run that would overrun the month's budget; say what is left and how to proceed.

    Returns a one-line summary for the logs when the run fits (or no budget is set)."""
    if budget is None:
        return f"estimated {estimate_credits} credits (budget guard off)"
    remaining = budget - spent
    if estimate_credits > remaining:
        raise BudgetExceededError(
            f"this run would spend about {estimate_credits} CoinCap credits, but only "
            f"{max(remaining, 0)} of this month's budget of {budget} remain ({spent} spent, per "
            "the credit ledger). Narrow the run (fewer coins or days, `fill_gaps: true`), raise "
            "COINCAP_CREDIT_BUDGET, or override once with run config `ignore_budget: true`."
        )
    return (
        f"estimated {estimate_credits} credits; {remaining} of the month's {budget} remain "
        f"({spent} spent)"
    )
