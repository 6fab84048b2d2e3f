"""The three CoinCap assets, each daily-partitioned and written to PostgreSQL and MongoDB.

- `asset_history`: the d1 point of every day in the run's window for each tracked coin; a range
  is one run and one ranged request per coin (chunked by the span), never one request per day.
- `raw_assets`, `market_snapshots`: CoinCap serves only the present, so partition D is "the state
  at the close of UTC day D". Only the latest closed day (within the grace period) is fetched
  live; an older partition is rebuilt from the MongoDB raw archive, or fails saying why.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar

import dagster as dg
import pandas as pd
from pydantic import Field

from criptopipe import ingest, planner
from criptopipe.assets.types import (
    AssetHistoryBatches,
    AssetHistoryFrame,
    MarketSnapshotsFrame,
    RawAssetsFrame,
)
from criptopipe.coincap.client import CoinCapClient
from criptopipe.coincap.errors import CoinCapError
from criptopipe.coincap.transport import MeterSnapshot
from criptopipe.io_managers import COINS_ATTR
from criptopipe.partitions import daily_partitions
from criptopipe.resources import (
    CoinCapResource,
    CoinUniverseResource,
    MongoResource,
    PostgresResource,
)
from criptopipe.run_alerts import alert_on_failure
from criptopipe.storage import ledger
from criptopipe.storage.datasets import ASSET_HISTORY, MARKET_SNAPSHOTS, RAW_ASSETS, Dataset
from criptopipe.storage.slices import Slice
from criptopipe.transform import frames
from criptopipe.transform.batches import SpilledFrames, batch_size

T = TypeVar("T")

#: A step that failed on something a retry can fix (429 storms, 5xx, a database restart) is
#: retried with exponential backoff and jitter; errors that a retry cannot fix (missing key,
#: unknown coin, budget) raise `dg.Failure(allow_retries=False)` and fail at once.
RETRY_POLICY = dg.RetryPolicy(
    max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
#: Every step that calls CoinCap holds a slot of this pool, so concurrent runs and backfills
#: share one limit (see `concurrency.pools` in dagster.yaml) and stay under 600 calls/minute.
COINCAP_POOL = "coincap"

COMMON: dict[str, Any] = {
    "partitions_def": daily_partitions,
    "backfill_policy": dg.BackfillPolicy.single_run(),
    "io_manager_key": "warehouse_io_manager",
    "group_name": "coincap",
    "kinds": {"postgres", "mongodb", "pandas"},
    "retry_policy": RETRY_POLICY,
    "pool": COINCAP_POOL,
    # records and alerts a step's final failure from inside the run (no daemon needed)
    "hooks": {alert_on_failure},
}


class CoinsConfig(dg.Config):
    coins: list[str] = Field(
        default_factory=list,
        description="CoinCap ids for this run only (e.g. ['bitcoin']); empty: the tracked coins.",
    )
    ignore_budget: bool = Field(
        default=False,
        description="Run even if the estimate exceeds what is left of COINCAP_CREDIT_BUDGET.",
    )


class HistoryConfig(CoinsConfig):
    fill_gaps: bool = Field(
        default=False,
        description="Fetch only the (coin, day) ranges missing from PostgreSQL in the window; "
        "rows already loaded are neither fetched nor rewritten.",
    )


def _window(context: dg.AssetExecutionContext) -> tuple[date, date]:
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def _fetch(
    context: dg.AssetExecutionContext,
    coincap: CoinCapResource,
    postgres: PostgresResource,
    work: Callable[[CoinCapClient], Awaitable[T]],
) -> tuple[T, dict[str, Any]]:
    """Run `work` with a fresh client; return its result and the cost metadata. What the run
    spent is written to the credit ledger even when it fails: the credits are gone either way."""
    settings = coincap.client_settings()
    started = time.monotonic()
    spent: list[MeterSnapshot] = []

    async def go() -> T:
        async with CoinCapClient(settings) as client:
            try:
                return await work(client)
            finally:
                spent.append(client.meter.snapshot())

    succeeded = False
    try:
        result = asyncio.run(go())
        succeeded = True
    except (ingest.UnknownCoinsError, ingest.EmptyAnswerError) as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    except CoinCapError as exc:
        raise dg.Failure(description=str(exc), allow_retries=exc.retryable) from exc
    finally:
        if spent:
            _record_spend(context, postgres, settings.base_url, spent[0], succeeded)
    meter = spent[0]
    cost = {
        "requests": dg.MetadataValue.int(meter.calls),
        "bytes": dg.MetadataValue.int(meter.bytes),
        "credits": dg.MetadataValue.int(meter.credits),
        "fetch_seconds": dg.MetadataValue.float(round(time.monotonic() - started, 3)),
        "source_url": dg.MetadataValue.url(settings.base_url),
    }
    return result, cost


def _record_spend(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    source: str,
    meter: MeterSnapshot,
    succeeded: bool,
) -> None:
    context.log.info(
        f"CoinCap: {meter.calls} requests, {meter.bytes:,} bytes, {meter.credits} credits"
    )
    first, end = _window(context)
    entry = ledger.LedgerEntry(
        run_id=context.run.run_id,
        asset=context.asset_key.to_user_string(),
        partition_start=first,
        partition_end=end,
        requests=meter.calls,
        bytes=meter.bytes,
        credits=meter.credits,
        source=source,
        succeeded=succeeded,
    )
    try:
        ledger.record(postgres.resolved_url(), postgres.resolved_schema(), entry)
    except Exception as exc:  # the ledger must never hide the run's own outcome
        context.log.warning(f"could not record spend in the credit ledger: {exc}")


def _rows_per_day(frame: pd.DataFrame, ds: Dataset) -> dict[str, int]:
    if frame.empty:
        return {}
    counts = frame.groupby(ds.partition_column).size()
    return {str(day): int(n) for day, n in counts.items()}


def _pairs(frame: pd.DataFrame, ds: Dataset) -> list[tuple[str, date]]:
    if frame.empty:
        return []
    return list(zip(frame[ds.coin_column], frame[ds.partition_column], strict=True))


class EmptyAnswers:
    """Coins CoinCap answered nothing for, across a run's slices, and the stored rows kept.

    A write replaces its slice, so an empty but valid answer would erase a coin's stored rows:
    such a coin is left out of the slice (see `ingest.hold_back_empty`). Either store counts as
    holding rows: after a crash between the two writes MongoDB may hold a slice PostgreSQL
    lacks, and the archive is the one copy that cannot be fetched again for snapshots.
    """

    def __init__(self, ds: Dataset, postgres: PostgresResource, mongo: MongoResource) -> None:
        self.ds, self.postgres, self.mongo = ds, postgres, mongo
        self.empty: list[str] = []
        self.held: dict[str, int] = {}

    def narrow(self, slices: Sequence[Slice], frame: pd.DataFrame) -> list[Slice]:
        fetched = _pairs(frame, self.ds)
        empty = ingest.hold_back_empty(slices, fetched, []).empty
        if not empty:  # every coin answered: nothing to look up
            return list(slices)
        start = min(s.start for s in slices)
        end = max(s.end for s in slices)
        stored = self._stored(Slice(start, end, frozenset(empty)))
        kept = ingest.hold_back_empty(slices, fetched, stored)
        self.empty.extend(c for c in kept.empty if c not in self.empty)
        for coin, rows in kept.held.items():
            self.held[coin] = self.held.get(coin, 0) + rows
        return kept.slices

    def _stored(self, slc: Slice) -> list[tuple[str, date]]:
        ds = self.ds
        keys = self.postgres.store().keys(ds, slc) | self.mongo.store().keys(ds, slc)
        coin, day = ds.key.index(ds.coin_column), ds.key.index(ds.partition_column)
        return [(str(k[coin]), k[day]) for k in keys]

    def report(self, context: dg.AssetExecutionContext, window: str) -> dict[str, Any]:
        if self.held:
            kept = ", ".join(f"{c} ({n} rows)" for c, n in list(self.held.items())[:20])
            context.log.warning(
                f"CoinCap answered no {self.ds.name} data in {window} for {kept}, whose rows "
                "the stores hold: left out of the write, their stored rows are kept"
            )
        return {
            "empty_answers": dg.MetadataValue.json(self.empty[:200]),
            "held_back": dg.MetadataValue.json(dict(list(self.held.items())[:200])),
        }


def _guard(
    context: dg.AssetExecutionContext,
    coincap: CoinCapResource,
    postgres: PostgresResource,
    estimate: planner.Estimate,
    ignore_budget: bool,
) -> dict[str, Any]:
    """Refuse a run whose estimate exceeds what is left of the month's credit budget, before
    any call. Spend is counted against the same CoinCap URL only (sandbox credits are free)."""
    budget = coincap.resolved_budget()
    spent = 0
    if budget is not None:
        spent = ledger.spent_this_month(
            postgres.resolved_url(),
            postgres.resolved_schema(),
            source=coincap.client_settings().base_url,
        )
    try:
        summary = planner.check_budget(estimate.credits, budget, spent)
    except planner.BudgetExceededError as exc:
        if not ignore_budget:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        summary = f"{exc} Running anyway: ignore_budget is set."
        context.log.warning(summary)
    context.log.info(f"plan: {estimate.requests} requests, ~{estimate.bytes:,} bytes; {summary}")
    return {
        "estimated_requests": dg.MetadataValue.int(estimate.requests),
        "estimated_credits": dg.MetadataValue.int(estimate.credits),
    }


@dg.asset(
    **COMMON,
    dagster_type=AssetHistoryBatches,
    metadata={"partition_expr": ASSET_HISTORY.partition_column},
    description="Daily (d1) USD price of each tracked coin: one row per coin per day.",
)
def asset_history(
    context: dg.AssetExecutionContext,
    config: HistoryConfig,
    coincap: CoinCapResource,
    universe: CoinUniverseResource,
    postgres: PostgresResource,
    mongo: MongoResource,
) -> dg.Output[SpilledFrames]:
    first, end = _window(context)
    tracked = universe.universe(config.coins)
    mode = "missing days only" if config.fill_gaps else "full window"
    context.log.info(
        f"asset_history {first}..{end - timedelta(days=1)} for {tracked.describe()} ({mode})"
    )
    window = Slice(first, end)
    have: set[tuple[str, date]] = set()
    if config.fill_gaps:
        keys = postgres.store().keys(ASSET_HISTORY, window)
        have = {(str(coin), day) for coin, day in keys}

    if config.fill_gaps and tracked.coins:
        gaps = ingest.find_gaps(tracked.coins, first, end, have)
        estimate = sum(
            (
                planner.estimate_history(1, g_first, g_end, coincap.resolved_span())
                for _, g_first, g_end in gaps
            ),
            planner.Estimate("asset_history", 0, 0, 0),
        )
    else:
        estimate = planner.estimate_history(
            len(tracked.coins) or tracked.top_n,
            first,
            end,
            coincap.resolved_span(),
            resolve_top_n=not tracked.coins,
        )
    planned = _guard(context, coincap, postgres, estimate, config.ignore_budget)

    spilled = SpilledFrames(ASSET_HISTORY)
    missing: dict[str, list[date]] = {}
    rows_per_day: dict[str, int] = {}
    empties = EmptyAnswers(ASSET_HISTORY, postgres, mongo)

    def keep(frame: pd.DataFrame, slices: list[Slice], result: ingest.HistoryResult) -> None:
        """Check a batch against the output type, spill it, and let it go. Coins CoinCap
        answered nothing for where the stores hold rows are left out of its slices."""
        slices = empties.narrow(slices, frame)
        if not slices:  # every coin of the batch held back: nothing to replace
            missing.update(result.missing)
            return
        check = dg.check_dagster_type(AssetHistoryFrame, frame)
        if not check.success:
            spilled.cleanup()
            raise dg.Failure(
                description=f"asset_history batch failed its type check: {check.description}",
                metadata=check.metadata,
                allow_retries=False,
            )
        spilled.add(frame, slices)
        missing.update(result.missing)
        for day, n in _rows_per_day(frame, ASSET_HISTORY).items():
            rows_per_day[day] = rows_per_day.get(day, 0) + n

    async def work(client: CoinCapClient) -> tuple[list[str], int]:
        coins = await ingest.resolve_coins(client, tracked)
        if config.fill_gaps:
            gaps = ingest.find_gaps(coins, first, end, have)
            context.log.info(
                f"{len(gaps)} gap(s) covering {sum((e - s).days for _, s, e in gaps)} "
                f"(coin, day) pairs; {len(have)} already loaded are left alone"
            )
            result = await ingest.fetch_gaps(client, gaps, context.log.info)
            frame = frames.history_frame(result.series, frames.fetch_time())
            keep(frame, [Slice(s, e, frozenset({c})) for c, s, e in gaps], result)
            return coins, len(gaps)
        size = batch_size((end - first).days)
        answered = False
        for i in range(0, len(coins), size):
            batch = coins[i : i + size]
            result = await ingest.fetch_history(client, batch, first, end, context.log.info)
            frame = frames.history_frame(result.series, frames.fetch_time())
            answered = answered or not frame.empty
            if i + size >= len(coins) and not answered:
                # every coin came back empty: fail before anything is written
                raise ingest.EmptyAnswerError.for_coins(
                    "asset_history points", coins, Slice(first, end).describe_days()
                )
            keep(frame, [Slice(first, end, frozenset(batch))], result)
            del frame, result
            if len(coins) > size:
                context.log.info(
                    f"batch {i // size + 1}/{-(-len(coins) // size)} fetched and spilled "
                    f"({spilled.rows} rows so far)"
                )
        return coins, 0

    try:
        (coins, gap_count), cost = _fetch(context, coincap, postgres, work)
    except BaseException:
        spilled.cleanup()
        raise
    spilled.coins = coins
    spilled.validated = True
    holes = sum(len(days) for days in missing.values())
    if holes:
        context.log.warning(
            f"CoinCap has no d1 point for {holes} (coin, day) pairs in the window; "
            "they are reported in metadata, never invented"
        )
    held = empties.report(context, Slice(first, end).describe_days())
    return dg.Output(
        spilled,
        metadata={
            **planned,
            **cost,
            **held,
            "mode": dg.MetadataValue.text(mode),
            "gaps_fetched": dg.MetadataValue.int(gap_count),
            "coins": dg.MetadataValue.int(len(coins)),
            "coin_ids": dg.MetadataValue.text(_short_list(coins)),
            "partitions": dg.MetadataValue.int((end - first).days),
            "rows_fetched": dg.MetadataValue.int(spilled.rows),
            "batches": dg.MetadataValue.int(len(spilled.batches)),
            "rows_per_partition": dg.MetadataValue.json(dict(sorted(rows_per_day.items()))),
            "missing_days": dg.MetadataValue.int(holes),
            "missing": dg.MetadataValue.json(
                {c: [str(d) for d in days[:50]] for c, days in list(missing.items())[:100]}
            ),
        },
    )


def _short_list(items: list[str], limit: int = 50) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _snapshot(
    context: dg.AssetExecutionContext,
    ds: Dataset,
    universe: CoinUniverseResource,
    mongo: MongoResource,
    coincap: CoinCapResource,
    postgres: PostgresResource,
    live: Callable[[CoinCapClient, date, datetime], Awaitable[tuple[pd.DataFrame, list[str]]]],
    config: CoinsConfig,
    estimate: Callable[[int], planner.Estimate],
    what: str,
) -> dg.Output[pd.DataFrame]:
    """`live` answers a day's frame and the coins it asked CoinCap about; `what` names the
    records in messages ("markets")."""
    first, end = _window(context)
    days = Slice(first, end).day_list()
    now = datetime.now(timezone.utc)
    grace = timedelta(hours=universe.snapshot_grace_hours)
    archived: list[pd.DataFrame] = []
    live_days: list[date] = []
    store = None
    for day in days:
        source = ingest.snapshot_source(day, now, grace)
        if source is ingest.SnapshotSource.OPEN:
            raise dg.Failure(
                description=f"{ds.name} partition {day} has not closed yet (it closes at "
                f"{day + timedelta(days=1)}T00:00Z): a snapshot is the state at the close of "
                "its day.",
                allow_retries=False,
            )
        if source is ingest.SnapshotSource.LIVE:
            live_days.append(day)
            continue
        store = store or mongo.store()
        docs = store.read_slice(ds, Slice(day, day + timedelta(days=1)))
        if not docs:
            latest = (now - timedelta(days=1)).date()
            raise dg.Failure(
                description=f"CoinCap keeps no history for {ds.name}: partition {day} (the state "
                f"at the close of {day}) could only be fetched live within "
                f"{universe.snapshot_grace_hours:g}h after that day closed, and the MongoDB raw "
                f"archive holds no {ds.name} documents for {day} to rebuild it from. "
                f"Materialize the latest closed day ({latest}) instead; older snapshot "
                "partitions exist only where they were archived when live.",
                allow_retries=False,
            )
        context.log.info(f"{ds.name} {day}: rebuilt from {len(docs)} archived documents")
        archived.append(frames.frame_from_documents(ds, docs))

    cost: dict[str, Any] = {"requests": dg.MetadataValue.int(0), "credits": dg.MetadataValue.int(0)}
    parts = list(archived)
    empties = EmptyAnswers(ds, postgres, mongo)
    asked: set[str] = set()
    if live_days:
        cost.update(
            _guard(context, coincap, postgres, estimate(len(live_days)), config.ignore_budget)
        )

        async def work(client: CoinCapClient) -> list[tuple[date, pd.DataFrame, list[str]]]:
            fetched_at = frames.fetch_time()
            out = []
            for day in live_days:
                frame, coins = await live(client, day, fetched_at)
                if coins and frame.empty:  # every coin came back empty: write nothing
                    raise ingest.EmptyAnswerError.for_coins(what, coins, str(day))
                out.append((day, frame, coins))
            return out

        fetched, spent = _fetch(context, coincap, postgres, work)
        cost.update(spent)
        for day, part, coins in fetched:
            asked.update(coins)
            empties.narrow([Slice(day, day + timedelta(days=1), frozenset(coins))], part)
            parts.append(part)
    frame = pd.concat(parts, ignore_index=True) if parts else frames.empty_frame(ds)
    frame = frame.astype(object) if len(frame) else frame
    if config.coins or empties.held:
        # a run for named coins replaces those coins' rows only, never the rest of the day;
        # coins held back after an empty answer are left out of the slice, rows and all
        covered = (
            list(dict.fromkeys(config.coins))
            if config.coins
            else sorted(asked | set(frame[ds.coin_column] if len(frame) else ()))
        )
        if empties.held:
            frame = frame[~frame[ds.coin_column].isin(empties.held)] if len(frame) else frame
        frame.attrs[COINS_ATTR] = [c for c in covered if c not in empties.held]
    return dg.Output(
        frame,
        metadata={
            **cost,
            **empties.report(context, Slice(first, end).describe_days()),
            "coins": dg.MetadataValue.int(int(frame["coin_id"].nunique()) if len(frame) else 0),
            "partitions": dg.MetadataValue.int(len(days)),
            "live_partitions": dg.MetadataValue.text(", ".join(map(str, live_days)) or "none"),
            "rebuilt_from_archive": dg.MetadataValue.int(len(archived)),
            "rows_per_partition": dg.MetadataValue.json(_rows_per_day(frame, ds)),
        },
    )


@dg.asset(
    **COMMON,
    dagster_type=RawAssetsFrame,
    metadata={"partition_expr": RAW_ASSETS.partition_column},
    description="CoinCap's asset list for the tracked coins at the close of each UTC day.",
)
def raw_assets(
    context: dg.AssetExecutionContext,
    config: CoinsConfig,
    coincap: CoinCapResource,
    universe: CoinUniverseResource,
    mongo: MongoResource,
    postgres: PostgresResource,
) -> dg.Output[pd.DataFrame]:
    tracked = universe.universe(config.coins)

    async def live(
        client: CoinCapClient, day: date, fetched_at: datetime
    ) -> tuple[pd.DataFrame, list[str]]:
        assets = await ingest.fetch_assets(client, tracked)
        context.log.info(f"raw_assets {day}: {len(assets)} assets ({tracked.describe()})")
        return frames.raw_assets_frame(assets, day, fetched_at), [a.id for a in assets]

    def estimate(live_days: int) -> planner.Estimate:
        return planner.estimate_raw_assets(len(tracked.coins) or tracked.top_n, live_days)

    return _snapshot(
        context, RAW_ASSETS, universe, mongo, coincap, postgres, live, config, estimate, "assets"
    )


@dg.asset(
    **COMMON,
    dagster_type=MarketSnapshotsFrame,
    metadata={"partition_expr": MARKET_SNAPSHOTS.partition_column},
    description="Exchange markets of each tracked coin at the close of each UTC day.",
)
def market_snapshots(
    context: dg.AssetExecutionContext,
    config: CoinsConfig,
    coincap: CoinCapResource,
    universe: CoinUniverseResource,
    mongo: MongoResource,
    postgres: PostgresResource,
) -> dg.Output[pd.DataFrame]:
    tracked = universe.universe(config.coins)

    async def live(
        client: CoinCapClient, day: date, fetched_at: datetime
    ) -> tuple[pd.DataFrame, list[str]]:
        coins = await ingest.resolve_coins(client, tracked)
        markets = await ingest.fetch_markets(
            client, coins, universe.markets_per_coin, context.log.info
        )
        return frames.markets_frame(markets, day, fetched_at), coins

    def estimate(live_days: int) -> planner.Estimate:
        return planner.estimate_markets(
            len(tracked.coins) or tracked.top_n,
            live_days,
            universe.markets_per_coin,
            resolve_top_n=not tracked.coins,
        )

    return _snapshot(
        context,
        MARKET_SNAPSHOTS,
        universe,
        mongo,
        coincap,
        postgres,
        live,
        config,
        estimate,
        "markets",
    )
