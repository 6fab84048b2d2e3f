"""What one materialization fetches, decided and done without Dagster.

The assets call these coroutines with an open `CoinCapClient`: resolve the tracked coins, fetch
the ranged history of each (concurrently, bounded by the client) or only the missing ranges,
and list each coin's markets. Progress goes to a plain callback so the assets can route it to
Dagster's log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from criptopipe.sources.coincap.client import CoinCapClient
from criptopipe.sources.coincap.errors import NotFoundError
from criptopipe.sources.coincap.models import Asset, HistoryPoint, Market
from criptopipe.storage.slices import midnight
from criptopipe.transform.frames import utc_day

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


class UnknownCoinsError(ValueError):
    """Coin ids CoinCap does not know: a retry cannot fix it."""

    retryable = False

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = list(missing)
        listed = ", ".join(repr(m) for m in self.missing)
        super().__init__(
            f"unknown coin id(s) {listed}: CoinCap has no asset with that id. Coin ids are "
            "CoinCap slugs such as 'bitcoin', 'ethereum' or 'binance-coin' (see "
            "GET /assets?search=<name>); fix the `coins` setting (CRIPTOPIPE_COINS or run config)."
        )


class EmptyAnswerError(ValueError):
    """CoinCap answered every coin of a run with no data: a valid but empty answer is not a
    reason to erase what the stores hold, and a run that would write nothing at all is a
    failure to look at, not a success. A retry right away would most likely get the same."""

    retryable = False

    @classmethod
    def for_coins(cls, what: str, coins: Sequence[str], window: str) -> EmptyAnswerError:
        shown = ", ".join(coins[:10]) + (f" and {len(coins) - 10} more" if len(coins) > 10 else "")
        return cls(
            f"CoinCap answered no {what} for any of the {len(coins)} coin(s) ({shown}) in "
            f"{window}: nothing was written, so no stored data was erased. If the window lies "
            "before these coins were listed, choose a later one; otherwise CoinCap is answering "
            "empty lists: run it again later."
        )

    @classmethod
    def for_asset_list(cls, universe: Universe) -> EmptyAnswerError:
        return cls(
            f"CoinCap answered an empty asset list for the {universe.describe()}: nothing was "
            "written, so no stored data was erased; run it again later."
        )


@dataclass(frozen=True)
class Universe:
    """The coins a run tracks: explicit ids, or the top N by market cap right now."""

    coins: tuple[str, ...] = ()
    top_n: int = 10

    def describe(self) -> str:
        return ", ".join(self.coins) if self.coins else f"top {self.top_n} by market cap"


async def resolve_coins(client: CoinCapClient, universe: Universe) -> list[str]:
    """Explicit ids are used as given (a history call for an unknown id fails naming it);
    the top N costs one call."""
    if universe.coins:
        return list(dict.fromkeys(universe.coins))
    assets = await client.list_assets(limit=universe.top_n)
    if not assets:
        raise EmptyAnswerError.for_asset_list(universe)
    return [a.id for a in assets[: universe.top_n]]


async def fetch_assets(client: CoinCapClient, universe: Universe) -> list[Asset]:
    """The asset list for the tracked coins, failing on ids CoinCap does not know."""
    if universe.coins:
        wanted = list(dict.fromkeys(universe.coins))
        assets = await client.list_assets(ids=wanted)
        found = {a.id for a in assets}
        missing = [c for c in wanted if c not in found]
        if missing:
            raise UnknownCoinsError(missing)
        return assets
    assets = await client.list_assets(limit=universe.top_n)
    if not assets:
        raise EmptyAnswerError.for_asset_list(universe)
    return assets[: universe.top_n]


@dataclass
class HistoryResult:
    series: dict[str, list[HistoryPoint]] = field(default_factory=dict)
    #: (coin, day) pairs inside the window that CoinCap did not send
    missing: dict[str, list[date]] = field(default_factory=dict)


async def fetch_history(
    client: CoinCapClient,
    coins: Sequence[str],
    first: date,
    end: date,
    progress: Progress = _quiet,
) -> HistoryResult:
    """The d1 point of every day in [first, end) for each coin: one ranged request per coin
    (chunked by the client's span), never one per day. Days CoinCap lacks are reported."""
    result = HistoryResult()
    days = [first + timedelta(days=i) for i in range((end - first).days)]

    async def one(coin: str) -> tuple[str, list[HistoryPoint]]:
        try:
            points = await client.history(
                coin, interval="d1", start=midnight(first), end=midnight(end)
            )
        except NotFoundError as exc:
            raise UnknownCoinsError([coin]) from exc
        return coin, points

    tasks = [asyncio.ensure_future(one(c)) for c in coins]
    try:
        for n, fut in enumerate(asyncio.as_completed(tasks), start=1):
            coin, points = await fut
            kept = [p for p in points if first <= utc_day(p.time) < end]
            result.series[coin] = kept
            have = {utc_day(p.time) for p in kept}
            missing = [d for d in days if d not in have]
            if missing:
                result.missing[coin] = missing
            progress(
                f"{coin}: {len(kept)} of {len(days)} days"
                + (f" ({len(missing)} missing)" if missing else "")
                + f" [{n}/{len(coins)} coins]"
            )
    finally:
        for t in tasks:
            t.cancel()
    result.series = {c: result.series[c] for c in coins if c in result.series}
    return result


async def fetch_markets(
    client: CoinCapClient,
    coins: Sequence[str],
    limit: int | None,
    progress: Progress = _quiet,
) -> dict[str, list[Market]]:
    async def one(coin: str) -> tuple[str, list[Market]]:
        try:
            return coin, await client.markets(coin, limit=limit)
        except NotFoundError as exc:
            raise UnknownCoinsError([coin]) from exc

    out: dict[str, list[Market]] = {}
    tasks = [asyncio.ensure_future(one(c)) for c in coins]
    try:
        for n, fut in enumerate(asyncio.as_completed(tasks), start=1):
            coin, markets = await fut
            out[coin] = markets
            progress(f"{coin}: {len(markets)} markets [{n}/{len(coins)} coins]")
    finally:
        for t in tasks:
            t.cancel()
    return {c: out[c] for c in coins if c in out}


Gap = tuple[str, date, date]  # coin, first day, end day (exclusive)


def find_gaps(
    coins: Sequence[str], first: date, end: date, have: set[tuple[str, date]]
) -> list[Gap]:
    """The runs of consecutive (coin, day) pairs in [first, end) the store does not hold."""
    gaps: list[Gap] = []
    for coin in coins:
        start: date | None = None
        day = first
        while day < end:
            missing = (coin, day) not in have
            if missing and start is None:
                start = day
            elif not missing and start is not None:
                gaps.append((coin, start, day))
                start = None
            day += timedelta(days=1)
        if start is not None:
            gaps.append((coin, start, end))
    return gaps


async def fetch_gaps(
    client: CoinCapClient, gaps: Sequence[Gap], progress: Progress = _quiet
) -> HistoryResult:
    """One ranged request per gap (chunked by the client's span): only what is missing."""
    result = HistoryResult()

    async def one(gap: Gap) -> tuple[Gap, list[HistoryPoint]]:
        coin, start, stop = gap
        try:
            points = await client.history(
                coin, interval="d1", start=midnight(start), end=midnight(stop)
            )
        except NotFoundError as exc:
            raise UnknownCoinsError([coin]) from exc
        return gap, [p for p in points if start <= utc_day(p.time) < stop]

    tasks = [asyncio.ensure_future(one(g)) for g in gaps]
    try:
        for n, fut in enumerate(asyncio.as_completed(tasks), start=1):
            (coin, start, stop), points = await fut
            result.series.setdefault(coin, []).extend(points)
            have = {utc_day(p.time) for p in points}
            still = [
                start + timedelta(days=i)
                for i in range((stop - start).days)
                if start + timedelta(days=i) not in have
            ]
            if still:
                result.missing.setdefault(coin, []).extend(still)
            progress(
                f"{coin} {start}..{stop - timedelta(days=1)}: {len(points)} days filled"
                + (f", CoinCap has no point for {len(still)}" if still else "")
                + f" [{n}/{len(gaps)} gaps]"
            )
    finally:
        for t in tasks:
            t.cancel()
    return result
