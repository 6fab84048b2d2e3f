"""Spending CoinCap credits for one asset of one run: plan -> budget guard -> session -> ledger.

Every asset that calls CoinCap goes through `Spend`: the estimate is checked against what is
left of the month's budget at that URL (sandbox credits are not CoinCap's) before any call, the
work runs on a fresh async client, and what it spent is written to the credit ledger even when
it fails (the credits are gone either way). No Dagster here: progress and warnings go to plain
callbacks, errors are the layers' own typed errors (each says whether a retry may help).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from criptopipe.pipeline import planner
from criptopipe.pipeline.planner import Estimate
from criptopipe.sources.coincap.client import CoinCapClient
from criptopipe.sources.coincap.settings import ClientSettings
from criptopipe.storage import ledger
from criptopipe.storage.errors import scrub
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import Slice
from criptopipe.text import plural

T = TypeVar("T")
Say = Callable[[str], None]


@dataclass(frozen=True)
class Cost:
    requests: int = 0
    bytes: int = 0
    credits: int = 0
    seconds: float = 0.0


class Spend:
    def __init__(
        self,
        client: ClientSettings,
        budget: int | None,
        store: PostgresStore,
        *,
        run_id: str,
        asset: str,
        window: Slice,
        log: Say,
        warn: Say,
    ) -> None:
        self.client, self.budget, self.store = client, budget, store
        self.run_id, self.asset, self.window = run_id, asset, window
        self.log, self.warn = log, warn
        self.estimate: Estimate | None = None
        self.cost = Cost()

    def guard(self, estimate: Estimate, ignore_budget: bool = False) -> None:
        """Refuse (BudgetExceededError) a run whose estimate exceeds what is left of the month's
        budget at this URL, before any call; `ignore_budget` runs it anyway, loudly."""
        spent = 0
        if self.budget is not None:
            spent = ledger.spent_this_month(self.store, source=self.client.base_url)
        try:
            summary = planner.check_budget(estimate.credits, self.budget, spent)
        except planner.BudgetExceededError as exc:
            if not ignore_budget:
                raise
            summary = f"{exc} Running anyway: ignore_budget is set."
            self.warn(summary)
        self.estimate = estimate
        self.log(
            f"plan: {plural(estimate.requests, 'request')}, ~{plural(estimate.bytes, 'byte')}; "
            f"{summary}"
        )

    def fetch(self, work: Callable[[CoinCapClient], Awaitable[T]]) -> T:
        """Run `work` on a fresh client and record what it spent, whatever the outcome."""
        started = time.monotonic()
        spent: list[Any] = []

        async def go() -> T:
            async with CoinCapClient(self.client) as client:
                try:
                    return await work(client)
                finally:
                    spent.append(client.meter.snapshot())

        succeeded = False
        try:
            result = asyncio.run(go())
            succeeded = True
            return result
        finally:
            if spent:
                meter = spent[0]
                self.cost = Cost(
                    self.cost.requests + meter.calls,
                    self.cost.bytes + meter.bytes,
                    self.cost.credits + meter.credits,
                    self.cost.seconds + round(time.monotonic() - started, 3),
                )
                self._record(meter.calls, meter.bytes, meter.credits, succeeded)

    def _record(self, requests: int, size: int, credits: int, succeeded: bool) -> None:
        self.log(
            f"CoinCap: {plural(requests, 'request')}, {plural(size, 'byte')}, "
            f"{plural(credits, 'credit')}"
        )
        entry = ledger.LedgerEntry(
            run_id=self.run_id,
            asset=self.asset,
            partition_start=self.window.start,
            partition_end=self.window.end,
            requests=requests,
            bytes=size,
            credits=credits,
            source=self.client.base_url,
            succeeded=succeeded,
        )
        try:
            ledger.record(self.store, entry)
        except Exception as exc:  # the ledger must never hide the run's own outcome
            # a driver's message may quote the URL's password: never pass it on as it is
            said = scrub(str(exc), *self.store.secrets, self.client.key())
            self.warn(f"could not record spend in the credit ledger: {said}")

    def metadata(self) -> dict[str, Any]:
        """Plain values for the materialization's metadata."""
        out: dict[str, Any] = {
            "requests": self.cost.requests,
            "bytes": self.cost.bytes,
            "credits": self.cost.credits,
            "fetch_seconds": self.cost.seconds,
            "source_url": self.client.base_url,
        }
        if self.estimate is not None:
            out["estimated_requests"] = self.estimate.requests
            out["estimated_credits"] = self.estimate.credits
        return out
