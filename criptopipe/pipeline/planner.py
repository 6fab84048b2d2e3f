"""Plan before paying: what a CoinCap materialization will cost, before any call.

CoinCap v3 bills 1 credit per call plus 1 per started 2,500 bytes of body. The cost of a run is
therefore known in advance from the number of coins, the days, the widest span one history
request may cover and the bytes a record takes in CoinCap's captured bodies
(`criptopipe.sources.coincap.credits`). Each dataset's estimator is declared in the registry
(`criptopipe.datasets`) from the functions here, and `PlanRequest` is the one input both
`criptopipe plan` and the in-run budget guard build, so the two can never disagree.

Dagster-free.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from criptopipe.sources.coincap.credits import (
    ASSET_BYTES,
    ENVELOPE_BYTES,
    HISTORY_POINT_BYTES,
    MARKET_BYTES,
    credits_for,
)
from criptopipe.sources.exchanges.venues import (
    closed_days,
    minimum_requests,
    minimum_weight,
    venue,
)
from criptopipe.text import plural


@dataclass(frozen=True)
class PlanRequest:
    """What a materialization will do, in the terms its cost depends on."""

    first: date
    end: date  # exclusive
    coins: int  # tracked coins: the explicit list, or N of a top-N universe
    resolve_top_n: bool  # a top-N universe costs one asset-list call to resolve
    live_days: int  # snapshot days fetched live (older ones come from the archive for free)
    span_days: int  # widest window one history request covers
    markets_per_coin: int | None
    exchanges: tuple[str, ...] = ()  # CCXT ids whose candles are fetched
    today: date | None = None  # UTC today (None: now): days not closed by then cost nothing


class BudgetExceededError(RuntimeError):
    """The estimate of a run exceeds what is left of the month's credit budget."""

    retryable = False


@dataclass(frozen=True)
class SourceRequests:
    """Requests (and, where the source weighs them, weight) one source of a run will get."""

    source: str
    requests: int
    weight: int = 0


@dataclass(frozen=True)
class Estimate:
    asset: str
    requests: int
    bytes: int
    credits: int
    notes: list[str] = field(default_factory=list)
    #: per source other than CoinCap (each exchange): requests and weight
    sources: tuple[SourceRequests, ...] = ()

    def __add__(self, other: Estimate) -> Estimate:
        return Estimate(
            asset=f"{self.asset}+{other.asset}",
            requests=self.requests + other.requests,
            bytes=self.bytes + other.bytes,
            credits=self.credits + other.credits,
            notes=[*self.notes, *other.notes],
            sources=(*self.sources, *other.sources),
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
    per = bytes_per_record or HISTORY_POINT_BYTES
    days = (end - first).days
    requests = total_bytes = total_credits = 0
    for chunk in history_chunks(days, span_days):
        size, cost = _request(chunk, per)
        requests += coins
        total_bytes += coins * size
        total_credits += coins * cost
    notes = [
        f"{plural(coins, 'coin')} x {plural(len(history_chunks(days, span_days)), 'request')} "
        f"of <= {plural(span_days, 'day')}"
    ]
    if resolve_top_n:
        size, cost = _request(coins, ASSET_BYTES)
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
    per = bytes_per_record or ASSET_BYTES
    pages = max(1, math.ceil(coins / 2000))
    size, cost = _request(coins, per)
    return Estimate(
        "raw_assets",
        requests=live_days * pages,
        bytes=live_days * size,
        credits=live_days * (cost + pages - 1),
        notes=[
            f"{plural(live_days, 'live day')}; older partitions come from the archive at 0 credits"
        ],
    )


def estimate_markets(
    coins: int,
    live_days: int,
    markets_per_coin: int | None,
    *,
    resolve_top_n: bool = False,
    bytes_per_record: int | None = None,
) -> Estimate:
    per = bytes_per_record or MARKET_BYTES
    markets = markets_per_coin or 100  # CoinCap's default page when unbounded: a floor
    size, cost = _request(markets, per)
    est = Estimate(
        "market_snapshots",
        requests=live_days * coins,
        bytes=live_days * coins * size,
        credits=live_days * coins * cost,
        notes=[
            f"{plural(coins, 'coin')} x {plural(live_days, 'live day')}, <= {markets} markets each"
        ],
    )
    if resolve_top_n and live_days:
        size, cost = _request(coins, ASSET_BYTES)
        est = Estimate(est.asset, est.requests + 1, est.bytes + size, est.credits + cost, est.notes)
    return est


def check_budget(estimate_credits: int, budget: int | None, spent: int) -> str:
    """Refuse a run that would overrun the month's budget; say what is left and how to proceed.

    Returns a one-line summary for the logs when the run fits (or no budget is set)."""
    if budget is None:
        return f"estimated {estimate_credits:,} credits (budget guard off)"
    remaining = budget - spent
    if estimate_credits > remaining:
        raise BudgetExceededError(
            f"this run would spend about {estimate_credits} CoinCap credits, but only "
            f"{max(remaining, 0)} of this month's budget of {budget} remain ({spent} spent, per "
            "the credit ledger). Narrow the run (fewer coins or days, `fill_gaps: true`), raise "
            "COINCAP_CREDIT_BUDGET, or override once with run config `ignore_budget: true`."
        )
    return (
        f"estimated {estimate_credits:,} credits; {remaining:,} of the month's {budget:,} remain "
        f"({spent:,} spent)"
    )


def history(req: PlanRequest) -> Estimate:
    return estimate_history(
        req.coins, req.first, req.end, req.span_days, resolve_top_n=req.resolve_top_n
    )


def raw_assets(req: PlanRequest) -> Estimate:
    return estimate_raw_assets(req.coins, req.live_days)


def markets(req: PlanRequest) -> Estimate:
    return estimate_markets(
        req.coins, req.live_days, req.markets_per_coin, resolve_top_n=req.resolve_top_n
    )


def exchange_candles(req: PlanRequest) -> Estimate:
    """Per exchange: one market load plus, for each pair, ceil(closed days / the exchange's most
    candles per request) (Kraken: one, its 720-day horizon). Pairs are unknown before markets
    load, so each tracked coin counts as one pair per exchange: an upper bound the run meets
    when every coin trades there. No CoinCap call: coin symbols come from the warehouse."""
    today = req.today or datetime.now(timezone.utc).date()
    days = closed_days(req.first, req.end, today)
    per = tuple(
        SourceRequests(
            ex,
            minimum_requests(ex, req.coins, req.first, req.end, today),
            minimum_weight(ex, req.coins, req.first, req.end, today),
        )
        for ex in req.exchanges
    )
    notes = [
        ", ".join(
            f"{s.source}: {venue(s.source).market_load_requests} to load markets + {req.coins} "
            f"pair(s) x {venue(s.source).page_count(days)}"
            for s in per
        ),
        "no CoinCap credits; <= 1 pair per coin and exchange",
    ]
    return Estimate(
        "exchange_candles",
        requests=sum(s.requests for s in per),
        bytes=0,
        credits=0,
        notes=notes,
        sources=per,
    )


def derived(asset: str) -> Callable[[PlanRequest], Estimate]:
    """A dataset computed from the stores: no request at all."""
    return lambda _: Estimate(asset, 0, 0, 0, ["computed from the warehouse: no request"])


def check_pace(estimate: Estimate, rate_limit_ms: Mapping[str, float]) -> list[str]:
    """Refuse (BudgetExceededError) a run that would use more of an exchange's weight in a
    minute than the exchange allows (Binance bans the IP: 418) at the configured CCXT rate
    limit; a run whose whole weight fits in one minute's allowance always passes. Returns a
    one-line summary per weighed exchange."""
    out = []
    for s in estimate.sources:
        v = venue(s.source)
        if not v.weight_limit_1m or not s.weight:
            continue
        spacing = rate_limit_ms.get(s.source, v.default_rate_limit_ms) * v.page_cost
        per_minute = round(60_000 / spacing * v.page_weight) if spacing > 0 else s.weight
        if s.weight > v.weight_limit_1m and per_minute > v.weight_limit_1m:
            raise BudgetExceededError(
                f"this run would send {s.requests} requests of weight {s.weight} to {s.source} "
                f"at up to {per_minute} weight a minute (CCXT rate limit {spacing / v.page_cost:g}"
                f" ms), over {v.name}'s {v.weight_limit_1m} a minute: it would be throttled, "
                f"then ban this IP. Raise CRIPTOPIPE_EXCHANGE_RATE_LIMIT_MS for {s.source} to at "
                f"least {v.default_rate_limit_ms:g} (or unset it), or narrow the run."
            )
        out.append(
            f"{s.source}: weight {s.weight}, at most {min(per_minute, s.weight)} a minute of "
            f"{v.weight_limit_1m}"
        )
    return out
