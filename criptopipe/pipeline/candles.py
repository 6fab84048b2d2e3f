"""A run's daily candles from the configured exchanges: plan -> pace guard -> fetch -> ledger.

What `exchange_candles` does without Dagster. The plan is the registry's estimate (the same
function `criptopipe plan` prints), checked against each exchange's weight allowance at the
configured CCXT rate limit before any request. The fetch loads each exchange's markets once,
maps the tracked coins (CoinCap symbols from the warehouse) onto them and fetches every mapped
pair's window concurrently, paged at the exchange's maximum. A pair the exchange no longer serves
although its markets listed it (delisted or renamed since they loaded) is reported and left out;
anything else that fails (an outage that outlasts the retries, a ban, a malformed candle) fails
the whole fetch, so nothing is half written. Requests and bytes go to the credit ledger per
exchange (0 credits, `source` = the exchange's URL), failed fetches included.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from criptopipe.pipeline import planner
from criptopipe.pipeline.planner import Estimate
from criptopipe.sources.exchanges.client import ExchangeClient
from criptopipe.sources.exchanges.errors import SymbolUnavailableError
from criptopipe.sources.exchanges.meter import MeterSnapshot
from criptopipe.sources.exchanges.models import (
    CandleFetch,
    GapReason,
    SymbolMatch,
    SymbolProblem,
    TrackedCoin,
)
from criptopipe.sources.exchanges.paging import gather
from criptopipe.sources.exchanges.settings import ExchangeSettings
from criptopipe.storage import ledger
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import Slice
from criptopipe.transform.exchanges import pair_id

Say = Callable[[str], None]


class NoSymbolsError(RuntimeError):
    """No tracked coin has a CoinCap symbol in the warehouse: nothing can be mapped."""

    retryable = False


@dataclass(frozen=True)
class PairFetch:
    match: SymbolMatch
    #: None when the exchange refused a pair its markets listed (`unavailable` says why)
    fetch: CandleFetch | None
    unavailable: str | None = None


@dataclass
class CandleResult:
    pairs: list[PairFetch] = field(default_factory=list)
    #: tracked coins not mapped on an exchange (no market, a collision, a bad pin)
    problems: list[SymbolProblem] = field(default_factory=list)
    #: exchange -> the physical minimum of requests for the mapped pairs, market load included
    minimum: dict[str, int] = field(default_factory=dict)
    meters: dict[str, MeterSnapshot] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)


class CandleSpend:
    def __init__(
        self,
        settings: ExchangeSettings,
        store: PostgresStore,
        *,
        run_id: str,
        asset: str,
        window: Slice,
        log: Say,
        warn: Say,
    ) -> None:
        self.settings, self.store = settings, store
        self.run_id, self.asset, self.window = run_id, asset, window
        self.log, self.warn = log, warn
        self.estimate: Estimate | None = None
        self.result = CandleResult()
        self.seconds = 0.0

    def guard(self, estimate: Estimate) -> None:
        """Refuse a run whose weight would exceed an exchange's allowance a minute at the
        configured rate limit (planner.check_pace, as `criptopipe plan` does), before any call."""
        paces = planner.check_pace(estimate, self.settings.rate_limit_ms)
        self.estimate = estimate
        per = ", ".join(f"{s.source} <= {s.requests}" for s in estimate.sources)
        self.log(f"plan: {estimate.requests} requests ({per}); no CoinCap credits")
        for line in paces:
            self.log(f"plan: {line}")

    def fetch(self, coins: list[TrackedCoin], first: date, end: date) -> CandleResult:
        """Map `coins` on every exchange and fetch [first, end) of each mapped pair."""
        started = time.monotonic()
        result = CandleResult()
        succeeded = False
        try:
            asyncio.run(self._fetch(result, coins, first, end))
            succeeded = True
        finally:
            self.seconds = round(time.monotonic() - started, 3)
            self.result = result
            for exchange, meter in result.meters.items():
                self._record(exchange, meter, result.sources[exchange], succeeded)
        return result

    async def _fetch(
        self, result: CandleResult, coins: list[TrackedCoin], first: date, end: date
    ) -> None:
        clients = {ex: ExchangeClient(ex, self.settings) for ex in self.settings.exchanges}
        try:
            await gather([c.load_markets() for c in clients.values()])  # concurrently, once
            jobs: list[Coroutine[Any, Any, PairFetch]] = []
            for exchange, client in clients.items():
                mapping = client.map_coins(coins)
                result.problems.extend(mapping.problems)
                result.minimum[exchange] = client.minimum_requests(len(mapping.matches), first, end)
                jobs.extend(_pair(client, m, first, end) for m in mapping.matches)
                self.log(
                    f"{exchange}: {len(mapping.matches)} pair(s) mapped, "
                    f"{len(mapping.problems)} coin(s) not"
                )
            result.pairs = await gather(jobs)
        finally:
            # each client's meter holds what it sent, whatever failed
            for exchange, client in clients.items():
                result.meters[exchange] = client.meter.snapshot()
                result.sources[exchange] = client.public_url
            await asyncio.gather(*(c.close() for c in clients.values()), return_exceptions=True)

    def _record(self, exchange: str, meter: MeterSnapshot, source: str, succeeded: bool) -> None:
        weight = meter.max_used_weight_1m
        self.log(
            f"{exchange}: {meter.requests} requests ({meter.retries} retried), "
            f"{meter.bytes:,} bytes" + (f", weight up to {weight} a minute" if weight else "")
        )
        entry = ledger.LedgerEntry(
            run_id=self.run_id,
            asset=self.asset,
            partition_start=self.window.start,
            partition_end=self.window.end,
            requests=meter.requests,
            bytes=meter.bytes,
            credits=0,
            source=source,
            succeeded=succeeded,
        )
        try:
            ledger.record(self.store, entry)
        except Exception as exc:  # the ledger must never hide the run's own outcome
            self.warn(f"could not record {exchange} requests in the credit ledger: {exc}")

    def metadata(self) -> dict[str, Any]:
        """Plain values for the materialization's metadata."""
        r = self.result
        made = sum(m.requests for m in r.meters.values())
        least = sum(r.minimum.values())
        out: dict[str, Any] = {
            "requests": made,
            "physical_minimum_requests": least,
            "bytes": sum(m.bytes for m in r.meters.values()),
            "credits": 0,
            "fetch_seconds": self.seconds,
            "requests_by_exchange": {
                ex: {
                    "requests": m.requests,
                    "minimum": r.minimum.get(ex),
                    "retries": m.retries,
                    "by_endpoint": m.by_endpoint,
                    "max_used_weight_1m": m.max_used_weight_1m,
                    "source": r.sources.get(ex),
                }
                for ex, m in r.meters.items()
            },
        }
        if self.estimate is not None:
            out["estimated_requests"] = self.estimate.requests
        return out


async def _pair(client: ExchangeClient, match: SymbolMatch, first: date, end: date) -> PairFetch:
    try:
        return PairFetch(match, await client.fetch_daily_candles(match.symbol, first, end))
    except SymbolUnavailableError as exc:
        return PairFetch(match, None, str(exc))


def write_slices(pairs: list[PairFetch], first: date, end: date) -> tuple[list[Slice], list[str]]:
    """The slices a write of these pairs may replace, and the pairs it must leave alone.

    A pair owns the window minus its leading days beyond the exchange's horizon (Kraken serves
    its 720 most recent daily candles only): candles stored while those days were within reach
    are never erased by a backfill that can no longer see them. Pairs sharing a first day share
    a slice; a pair the exchange refused, or whose whole window is beyond its horizon, is in
    none (its stored rows stay as they are)."""
    starts: dict[date, set[str]] = {}
    left_out = []
    for p in pairs:
        pair = pair_id(p.match.exchange, p.match.symbol)
        if p.fetch is None:
            left_out.append(pair)
            continue
        start = first
        for gap in p.fetch.gaps:
            if gap.reason is GapReason.BEYOND_HORIZON and gap.first == start:
                start = gap.last + timedelta(days=1)
        if start >= end:
            left_out.append(pair)
            continue
        starts.setdefault(start, set()).add(pair)
    slices = [Slice(day, end, frozenset(ps)) for day, ps in sorted(starts.items())]
    return slices, sorted(left_out)
