"""The snapshot datasets' shared step: live for the latest closed day, rebuilt from the raw
archive for older days, refused for a day that has not closed.

CoinCap serves only the present state of assets and markets, so partition D is "the state at
the close of UTC day D" (`pipeline/snapshots.py` decides which days are live). Coins CoinCap
answers nothing for while the stores hold their rows are left out of the write.
"""

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta, timezone

import dagster as dg
import pandas as pd

from criptopipe.datasets import Dataset
from criptopipe.defs.assets.common import CoinsConfig, metadata, spend, stores_ready
from criptopipe.defs.failures import step_failures
from criptopipe.defs.partitions import window
from criptopipe.defs.resources import (
    CoinCapResource,
    CoinUniverseResource,
    MongoResource,
    PostgresResource,
)
from criptopipe.defs.types import checked_output
from criptopipe.pipeline import ingest, planner, snapshots
from criptopipe.pipeline.empty import EmptyAnswers
from criptopipe.pipeline.output import SliceOutput
from criptopipe.sources.coincap.client import CoinCapClient
from criptopipe.storage.slices import Slice
from criptopipe.transform.frames import fetch_time

#: a live day's rows and the coins CoinCap was asked about
LiveFetch = Callable[[CoinCapClient, date, datetime], Awaitable[tuple[pd.DataFrame, list[str]]]]


def snapshot(
    context: dg.AssetExecutionContext,
    ds: Dataset,
    config: CoinsConfig,
    resources: tuple[CoinCapResource, CoinUniverseResource, MongoResource, PostgresResource],
    live: LiveFetch,
    what: str,
) -> dg.Output[SliceOutput]:
    """Live for the latest closed day, from the archive for older ones, never for open days.
    `what` names the records in messages ("markets")."""
    coincap, universe, mongo, postgres = resources
    days = window(context)
    tracked = universe.universe(config.coins)
    now = datetime.now(timezone.utc)
    grace = universe.grace_hours()
    plan = snapshots.plan_days(days.day_list(), now, timedelta(hours=grace))
    for day in plan.open:
        raise dg.Failure(
            description=f"{ds.name} partition {day} has not closed yet (it closes at "
            f"{day + timedelta(days=1)}T00:00Z): a snapshot is the state at the close of its "
            "day.",
            allow_retries=False,
        )
    parts: list[pd.DataFrame] = []
    asked: set[str] = set()
    with step_failures(coincap, universe, postgres, mongo):
        stores_ready(postgres, mongo)
        empties = EmptyAnswers(ds, postgres.store(), mongo.store())
        if plan.archive:
            # every day the run cannot build, named at once, before any read, call or write
            held = mongo.store().days(ds, Slice.days(plan.archive[0], plan.archive[-1]))
            if missing := [day for day in plan.archive if day not in held]:
                raise dg.Failure(
                    description=snapshots.refusal(ds.name, missing, sorted(held), grace),
                    allow_retries=False,
                )
        for day in plan.archive:
            docs = mongo.store().read_slice(ds, Slice.days(day, day))
            context.log.info(f"{ds.name} {day}: rebuilt from {len(docs)} archived documents")
            parts.append(ds.frame_from_documents(docs))

        session = spend(context, coincap, postgres, days)
        if plan.live:
            estimate = ds.estimate(
                planner.PlanRequest(
                    first=days.start,
                    end=days.end,
                    coins=len(tracked.coins) or tracked.top_n,
                    resolve_top_n=not tracked.coins,
                    live_days=len(plan.live),
                    span_days=coincap.span_days(),
                    markets_per_coin=universe.markets(),
                )
            )
            session.guard(estimate, config.ignore_budget)

            async def work(client: CoinCapClient) -> list[tuple[date, pd.DataFrame, list[str]]]:
                fetched_at = fetch_time()
                out = []
                for day in plan.live:
                    frame, coins = await live(client, day, fetched_at)
                    if coins and frame.empty:  # every coin came back empty: write nothing
                        raise ingest.EmptyAnswerError.for_coins(what, coins, str(day))
                    out.append((day, frame, coins))
                return out

            for day, part, day_coins in session.fetch(work):
                asked.update(day_coins)
                empties.narrow([Slice.days(day, day, day_coins)], part)
                parts.append(part)

    frame = pd.concat(parts, ignore_index=True).astype(object) if parts else ds.empty()
    # a run for named coins replaces those coins' rows only, never the rest of the day; coins
    # held back after an empty answer are left out of the slice, rows and all
    coins: list[str] | None = list(dict.fromkeys(config.coins)) if config.coins else None
    if empties.held:
        covered = coins or sorted(asked | set(frame[ds.coin_column] if len(frame) else ()))
        coins = [c for c in covered if c not in empties.held]
        frame = frame[~frame[ds.coin_column].isin(empties.held)] if len(frame) else frame
    if warning := empties.warning(days.describe_days()):
        context.log.warning(warning)
    output = checked_output(ds, days.narrow(coins))
    output.add(frame)
    return dg.Output(
        output,
        metadata=metadata(
            {
                **session.metadata(),
                **empties.metadata(),
                "coins": int(frame["coin_id"].nunique()) if len(frame) else 0,
                "partitions": days.day_count,
                "live_partitions": ", ".join(map(str, plan.live)) or "none",
                "rebuilt_from_archive": len(plan.archive),
                "rows_per_partition": {str(d): n for d, n in sorted(output.rows_per_day.items())},
            }
        ),
    )
