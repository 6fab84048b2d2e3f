"""`criptopipe`: plan a run's cost, fill gaps, replay the archive, and the local commands.

`plan` prices a materialization from the same settings and estimators the in-run budget guard
uses; `fill-gaps` runs `asset_history` for the missing (coin, day) ranges only; `replay`
rebuilds PostgreSQL from the MongoDB archive with zero API calls. `run`, `dev`, `dashboard`,
`env` and `stop` are the local commands behind `make` (`criptopipe.local.commands`).
"""

from __future__ import annotations

import argparse
from datetime import date, datetime, timedelta, timezone

from criptopipe import config, datasets
from criptopipe.local import commands
from criptopipe.pipeline import planner, preflight, snapshots
from criptopipe.pipeline.ingest import Universe
from criptopipe.storage import ledger
from criptopipe.storage.mongo import MongoStore
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import Slice

say = commands.say


def _window(args: argparse.Namespace) -> Slice:
    """The days of --partition D or --partition-range A...B (both included)."""
    if args.partition:
        day = date.fromisoformat(args.partition)
        return Slice.days(day, day)
    if not args.partition_range or "..." not in args.partition_range:
        raise SystemExit("give --partition YYYY-MM-DD or --partition-range YYYY-MM-DD...YYYY-MM-DD")
    a, b = args.partition_range.split("...", 1)
    preflight.partition_range(a, b)
    return Slice.days(date.fromisoformat(a), date.fromisoformat(b))


def _stores_ready(settings: config.Settings) -> None:
    """Both stores answer with these settings, before the command does anything (a ConfigError
    otherwise, printed as one line)."""
    preflight.postgres(PostgresStore(settings.require_database_url()), say=say)
    mongo = MongoStore(settings.require_mongodb_uri())
    try:
        preflight.mongo(mongo, say=say)
    finally:
        mongo.close()


def _selected(args: argparse.Namespace) -> list[datasets.Dataset]:
    chosen = []
    for name in [a.strip() for a in args.select.split(",") if a.strip()]:
        if name not in datasets.names():
            raise SystemExit(f"unknown asset {name!r}: {', '.join(datasets.names())}")
        chosen.append(datasets.get(name))
    return chosen


def cmd_plan(args: argparse.Namespace) -> int:
    """Print requests and credits a materialization will cost, before any call."""
    settings = config.settings()
    days = _window(args)
    coins = [c.strip() for c in (args.coins or "").split(",") if c.strip()] or settings.coins
    universe = Universe(coins=tuple(coins), top_n=args.top_n or settings.top_n)
    grace = timedelta(hours=settings.snapshot_grace_hours)
    live = snapshots.plan_days(days.day_list(), datetime.now(timezone.utc), grace).live
    request = planner.PlanRequest(
        first=days.start,
        end=days.end,
        coins=len(universe.coins) or universe.top_n,
        resolve_top_n=not universe.coins,
        live_days=len(live),
        span_days=args.span_days or settings.history_span_days,
        markets_per_coin=args.markets_per_coin or settings.markets_per_coin,
        exchanges=settings.exchanges,
    )
    estimates = [ds.estimate(request) for ds in _selected(args)]
    say(f"plan: {days.start}...{days.last} ({days.day_count} days), {universe.describe()}")
    say(f"{'asset':<18} {'requests':>9} {'bytes':>14} {'credits':>9}")
    for e in estimates:
        size = f"{e.bytes:,}" if e.bytes or not e.sources else "-"
        say(f"{e.asset:<18} {e.requests:>9,} {size:>14} {e.credits:>9,}   {'; '.join(e.notes)}")
        for source in e.sources:  # the exchanges: requests each, and weight where it counts
            weight = f"weight {source.weight:,}" if source.weight else "no weight limit"
            say(f"  {source.source:<16} {source.requests:>9,} {'':>14} {0:>9}   {weight}")
    total_requests = sum(e.requests for e in estimates)
    total_credits = sum(e.credits for e in estimates)
    say(f"{'total':<18} {total_requests:>9,} {'':>14} {total_credits:>9,}")
    try:
        for line in planner.check_pace(
            sum(estimates[1:], estimates[0]), settings.exchange_rate_limit_ms
        ):
            say(f"pace: {line}")
    except planner.BudgetExceededError as exc:
        say(f"REFUSED: {exc}")
        return 2
    budget = settings.credit_budget if args.budget is None else config.parse_budget(args.budget)
    if budget is None:
        say("COINCAP_CREDIT_BUDGET=off: runs are not budget-guarded")
        return 0
    spent = 0
    if settings.database_url is not None:
        store = PostgresStore(settings.require_database_url(), schema=settings.pg_schema)
        preflight.postgres(store, say=say)
        spent = ledger.spent_this_month(store, source=settings.coincap_base_url)
    try:
        say(planner.check_budget(total_credits, budget, spent))
    except planner.BudgetExceededError as exc:
        say(f"REFUSED: {exc}")
        return 2
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Rebuild PostgreSQL tables from the MongoDB raw archive: zero API calls."""
    from criptopipe.defs.rebuilds import report_replay
    from criptopipe.pipeline.replay import replay

    days = _window(args)
    settings = config.settings()
    if settings.database_url is None or settings.mongodb_uri is None:
        local = commands.prepare(with_sandbox=False)
        if local is None:
            return 1
        settings = commands.use(local)
    _stores_ready(settings)
    pg = PostgresStore(settings.require_database_url(), schema=settings.pg_schema)
    mongo = MongoStore(settings.require_mongodb_uri())
    try:
        for ds in _selected(args):
            result = replay(pg, mongo, ds, days.start, days.end, progress=say)
            say(
                f"{ds.name}: {result.rows} rows rebuilt over {result.days_replayed} day(s) from "
                "the archive, 0 API calls"
                + (
                    f"; {len(result.days_without_archive)} day(s) had no archived documents and "
                    "were left as they were"
                    if result.days_without_archive
                    else ""
                )
            )
            report_replay(ds, result, pg, settings.snapshot_start, say)
    finally:
        mongo.close()
    return 0


def cmd_fill_gaps(args: argparse.Namespace) -> int:
    """Fetch only the (coin, day) holes of asset_history in a range, as one Dagster run."""
    days = _window(args)
    local = commands.prepare()
    if local is None:
        return 1
    _stores_ready(commands.use(local))
    commands.reap_dead_runs()
    log = commands.log_file("fill-gaps")
    config_json = '{"ops": {"asset_history": {"config": {"fill_gaps": true}}}}'
    commands.materialize(
        "asset_history",
        ["--partition-range", f"{days.start}...{days.last}", "--config-json", config_json],
        log,
        "fill gaps",
    )
    say(f"log: {log}")
    return 0


def _add_window(p: argparse.ArgumentParser) -> None:
    p.add_argument("--select", default="asset_history", help="comma-separated asset names")
    p.add_argument("--partition", help="one day, YYYY-MM-DD")
    p.add_argument("--partition-range", help="YYYY-MM-DD...YYYY-MM-DD (both included)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="criptopipe", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="the main job: backfill history, snapshot the latest day")
    run.add_argument("--days", type=int, default=30, help="days of asset_history (default 30)")
    run.set_defaults(func=lambda a: commands.cmd_run(a.days))
    dev = sub.add_parser("dev", help="the Dagster UI and daemon on the project's instance")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(func=lambda a: commands.cmd_dev(a.host, a.port))
    dash = sub.add_parser("dashboard", help="the Streamlit dashboard")
    dash.add_argument("--port", type=int, default=8501)
    dash.set_defaults(func=lambda a: commands.cmd_dashboard(a.port))
    plan = sub.add_parser("plan", help="requests and credits a materialization will cost")
    _add_window(plan)
    plan.add_argument("--coins", help="comma-separated CoinCap ids (default: CRIPTOPIPE_COINS)")
    plan.add_argument("--top-n", type=int, help="top N by market cap (default: CRIPTOPIPE_TOP_N)")
    plan.add_argument(
        "--span-days", type=int, help="days per history request (CRIPTOPIPE_HISTORY_SPAN_DAYS)"
    )
    plan.add_argument(
        "--markets-per-coin", type=int, help="markets per coin (CRIPTOPIPE_MARKETS_PER_COIN)"
    )
    plan.add_argument("--budget", help="credits per month (default: COINCAP_CREDIT_BUDGET)")
    plan.set_defaults(func=cmd_plan)
    rep = sub.add_parser("replay", help="rebuild PostgreSQL from the MongoDB archive (0 calls)")
    _add_window(rep)
    rep.set_defaults(func=cmd_replay)
    gaps = sub.add_parser("fill-gaps", help="fetch only the missing (coin, day) history")
    _add_window(gaps)
    gaps.set_defaults(func=cmd_fill_gaps)
    sub.add_parser("env", help="print the variables a local run uses").set_defaults(
        func=lambda _: commands.cmd_env()
    )
    sub.add_parser("stop", help="stop local servers and the sandbox").set_defaults(
        func=lambda _: commands.cmd_stop()
    )
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except config.ConfigError as exc:
        say(f"error: {exc}")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
