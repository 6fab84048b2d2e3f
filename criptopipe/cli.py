"""criptopipe: plan a run's cost, fill gaps, replay the archive, and the local commands.

`plan` prices a materialization from the same settings and estimators the in-run budget guard
uses; `fill-gaps` fetches only the missing (coin, day) pairs; `replay` rebuilds PostgreSQL from
the MongoDB archive with zero API calls. `run`, `dev`, `dashboard`, `env` and `stop` are the
local commands behind `make` (`criptopipe.local`).

Options are typed (`cli_types.py`): a bad value, an unknown option or a missing argument ends
in one line saying what is wrong and what is valid (exit 2), never a traceback.
"""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta, timezone

import click

from criptopipe import config, datasets
from criptopipe.cli_types import (
    AssetList,
    Budget,
    CoinList,
    Markets,
    listen_options,
    window_options,
)
from criptopipe.cli_types import (
    window as days_of,
)
from criptopipe.local import commands
from criptopipe.local.ports import DevServerError
from criptopipe.pipeline import planner, preflight, snapshots
from criptopipe.pipeline.ingest import Universe
from criptopipe.sources.coincap.errors import CoinCapError
from criptopipe.storage import ledger
from criptopipe.storage.errors import StorageError
from criptopipe.storage.postgres import PostgresStore
from criptopipe.text import plural

say = commands.say
#: errors that are the input's or the environment's, already worded for a person: one line
PLAIN_ERRORS = (
    config.ConfigError,
    StorageError,
    CoinCapError,
    planner.BudgetExceededError,
    DevServerError,
)
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT, help=__doc__.split("\n\n")[0])
def cli() -> None:
    pass


@cli.command(context_settings=CONTEXT)
@click.option(
    "--days",
    type=click.IntRange(1, 3650),
    default=30,
    show_default=True,
    help="Days of asset_history, ending at the latest closed UTC day (one range run).",
)
def run(days: int) -> int:
    """The main job: history for the last DAYS days, then the snapshots of the latest closed
    UTC day. Starts local servers (and the sandbox when COINCAP_API_KEY is unset) as needed."""
    return commands.cmd_run(days)


@cli.command(context_settings=CONTEXT)
@listen_options("the Dagster UI", "CRIPTOPIPE_UI_HOST", "CRIPTOPIPE_UI_PORT", 3000)
def dev(host: str | None, port: int | None) -> int:
    """The Dagster UI and daemon on the project's instance (same configuration as `run`)."""
    from criptopipe.local import serve

    return serve.cmd_dev(host, port)


@cli.command(context_settings=CONTEXT)
@listen_options("the dashboard", "CRIPTOPIPE_DASHBOARD_HOST", "CRIPTOPIPE_DASHBOARD_PORT", 8501)
def dashboard(host: str | None, port: int | None) -> int:
    """The Streamlit dashboard, reading with its read-only logins."""
    from criptopipe.local import serve

    return serve.cmd_dashboard(host, port)


@cli.command(context_settings=CONTEXT)
@window_options(AssetList(), "asset_history")
@click.option("--coins", type=CoinList(), show_default="CRIPTOPIPE_COINS", help="CoinCap ids.")
@click.option(
    "--top-n",
    type=click.IntRange(min=1),
    show_default="CRIPTOPIPE_TOP_N, else 10",
    help="Track the top N coins by market cap (when no coins are named).",
)
@click.option(
    "--span-days",
    type=click.IntRange(1, 3650),
    show_default="CRIPTOPIPE_HISTORY_SPAN_DAYS, else 365",
    help="Widest window one history request covers.",
)
@click.option(
    "--markets-per-coin",
    type=Markets(),
    show_default="CRIPTOPIPE_MARKETS_PER_COIN, else 25",
    help="Markets kept per coin, or all.",
)
@click.option(
    "--budget",
    type=Budget(),
    show_default="COINCAP_CREDIT_BUDGET, else 2500",
    help="Credits per month the run must fit in, or off.",
)
def plan(
    select: list[datasets.Dataset],
    partition: date | None,
    partition_range: tuple[date, date] | None,
    coins: tuple[str, ...] | None,
    top_n: int | None,
    span_days: int | None,
    markets_per_coin: int | None,
    budget: int | None,
) -> int:
    """Requests and credits a materialization will cost, before any call; exit 2 when it
    would not fit in what is left of the month's budget."""
    span = days_of(partition, partition_range)
    settings = config.settings()
    universe = Universe(coins=coins or tuple(settings.coins), top_n=top_n or settings.top_n)
    grace = timedelta(hours=settings.snapshot_grace_hours)
    live = snapshots.plan_days(span.day_list(), datetime.now(timezone.utc), grace).live
    request = planner.PlanRequest(
        first=span.start,
        end=span.end,
        coins=len(universe.coins) or universe.top_n,
        resolve_top_n=not universe.coins,
        live_days=len(live),
        span_days=span_days or settings.history_span_days,
        markets_per_coin=markets_per_coin or settings.markets_per_coin,
        exchanges=settings.exchanges,
    )
    estimates = [ds.estimate(request) for ds in select]
    text = f"{span.start}...{span.last}"
    say(f"plan: {text} ({plural(span.day_count, 'day')}), {universe.describe()}")
    say(f"{'asset':<18} {'requests':>9} {'bytes':>14} {'credits':>9}")
    for e in estimates:
        size = f"{e.bytes:,}" if e.bytes or not e.sources else "-"
        say(f"{e.asset:<18} {e.requests:>9,} {size:>14} {e.credits:>9,}   {'; '.join(e.notes)}")
        for source in e.sources:  # the exchanges: requests each, and weight where it counts
            weight = f"weight {source.weight:,}" if source.weight else "no weight limit"
            say(f"  {source.source:<16} {source.requests:>9,} {'':>14} {0:>9}   {weight}")
    total = sum(e.credits for e in estimates)
    say(f"{'total':<18} {sum(e.requests for e in estimates):>9,} {'':>14} {total:>9,}")
    try:
        for line in planner.check_pace(
            sum(estimates[1:], estimates[0]), settings.exchange_rate_limit_ms
        ):
            say(f"pace: {line}")
    except planner.BudgetExceededError as exc:
        say(f"REFUSED: {exc}")
        return 2
    ctx = click.get_current_context()
    from_option = ctx.get_parameter_source("budget") is click.core.ParameterSource.COMMANDLINE
    limit = budget if from_option else settings.credit_budget
    if limit is None:
        say("budget: off (runs are not budget-guarded)")
        return 0
    spent = 0
    if settings.database_url is not None:
        store = PostgresStore(settings.require_database_url(), schema=settings.pg_schema)
        preflight.postgres(store, say=say)
        spent = ledger.spent_this_month(store, source=settings.coincap_base_url)
    try:
        say(planner.check_budget(total, limit, spent))
    except planner.BudgetExceededError as exc:
        say(f"REFUSED: {exc}")
        return 2
    return 0


@cli.command(context_settings=CONTEXT)
@window_options(AssetList(), "asset_history")
def replay(
    select: list[datasets.Dataset],
    partition: date | None,
    partition_range: tuple[date, date] | None,
) -> int:
    """Rebuild PostgreSQL tables from the MongoDB raw archive: zero API calls."""
    from criptopipe.defs.rebuilds import report_replay
    from criptopipe.pipeline.replay import replay as replay_dataset
    from criptopipe.storage.mongo import MongoStore

    span = days_of(partition, partition_range)
    settings = config.settings()
    if settings.database_url is None or settings.mongodb_uri is None:
        local = commands.prepare(with_sandbox=False)
        if local is None:
            return 1
        settings = commands.use(local)
    preflight.stores(settings, say=say)
    pg = PostgresStore(settings.require_database_url(), schema=settings.pg_schema)
    mongo = MongoStore(settings.require_mongodb_uri())
    try:
        for ds in select:
            result = replay_dataset(pg, mongo, ds, span.start, span.end, progress=say)
            without = result.days_without_archive
            say(
                f"{ds.name}: {plural(result.rows, 'row')} rebuilt over "
                f"{plural(result.days_replayed, 'day')} from the archive, 0 API calls"
                + (
                    f"; {plural(len(without), 'day')} had no archived documents and "
                    "were left as they were"
                    if without
                    else ""
                )
            )
            report_replay(ds, result, pg, settings.snapshot_start, say)
    finally:
        mongo.close()
    return 0


@cli.command("fill-gaps", context_settings=CONTEXT)
@window_options(AssetList(allowed="gaps_fillable"), "asset_history")
@click.option(
    "--coins",
    type=CoinList(),
    show_default="CRIPTOPIPE_COINS, else the coins of the latest raw_assets snapshot",
    help="CoinCap ids to look for gaps in.",
)
def fill_gaps(
    select: list[datasets.Dataset],
    partition: date | None,
    partition_range: tuple[date, date] | None,
    coins: tuple[str, ...] | None,
) -> int:
    """Find the missing (coin, day) pairs in PostgreSQL, print them, and fetch only those
    (one run per asset); nothing missing: no run and no CoinCap call."""
    from criptopipe.local import fill_gaps as gaps

    span = days_of(partition, partition_range)
    return gaps.cmd_fill_gaps(select, span.start, span.last, coins or ())


@cli.command(context_settings=CONTEXT)
def env() -> int:
    """Print the variables a local run uses (export lines), starting what is missing."""
    return commands.cmd_env()


@cli.command(context_settings=CONTEXT)
def stop() -> int:
    """Stop everything run, dev and dashboard started: the Dagster UI and daemon, the
    dashboard, the local PostgreSQL and MongoDB and the sandbox."""
    return commands.cmd_stop()


def main(argv: list[str] | None = None) -> int:
    """Run the command; bad input and configuration end in one line on stderr (exit 2)."""
    try:
        result = cli.main(args=argv, prog_name="criptopipe", standalone_mode=False)
    except click.exceptions.Exit as exc:  # --help
        return int(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return 2
    except PLAIN_ERRORS as exc:
        click.echo(f"error: {exc}", err=True)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
