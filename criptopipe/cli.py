"""`criptopipe`: the commands behind `make run`, `make dev`, `make dashboard` and `make stop`.

`run` is the main job: the last N days of `asset_history` as ONE range run, then the latest
closed day of `raw_assets` and `market_snapshots`, each through `dagster asset materialize` (the
same command users type), recorded in the project's Dagster instance so the UI shows them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from criptopipe import localenv
from criptopipe import settings as names
from criptopipe.devservers import DevServerError

BANNER = "=" * 78


def _say(text: str = "") -> None:
    print(text, flush=True)


def _materialize(
    env: dict[str, str], select: str, partition_args: list[str], log: Path, label: str
) -> None:
    cmd = [
        sys.executable,
        "-m",
        "dagster",
        "asset",
        "materialize",
        "-m",
        "criptopipe.definitions",
        "--select",
        select,
        *partition_args,
    ]
    _say(f"  {label}: dagster asset materialize --select {select} {' '.join(partition_args)}")
    started = time.monotonic()
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        res = subprocess.run(cmd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    if res.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-40:]
        _say("\n".join("    | " + line for line in tail))
        raise SystemExit(f"\n{label} failed (exit {res.returncode}); full log: {log}")
    _say(f"    done in {time.monotonic() - started:.1f}s")


def _reap_dead_runs(env: dict[str, str]) -> None:
    """Fail and unblock runs whose process died (a kill -9 would otherwise wedge the pool)."""
    from criptopipe import recovery

    recovery.check_before_run(env, _say)


def _counts(
    env: dict[str, str], first: date, last: date, snap: date
) -> list[tuple[str, str, int, int]]:
    from criptopipe.storage.datasets import DATASETS
    from criptopipe.storage.mongo import MongoStore
    from criptopipe.storage.postgres import PostgresStore
    from criptopipe.storage.slices import Slice

    merged = {**os.environ, **env}
    schema = merged.get(names.PG_SCHEMA, names.DEFAULT_SCHEMA)
    pg = PostgresStore(merged[names.DATABASE_URL], schema=schema)
    mongo = MongoStore(merged[names.MONGODB_URI])
    out = []
    for name, ds in DATASETS.items():
        slc = Slice.days(first, last) if name == "asset_history" else Slice.days(snap, snap)
        out.append((name, slc.describe(), len(pg.keys(ds, slc)), len(mongo.keys(ds, slc))))
    return out


def cmd_run(args: argparse.Namespace) -> int:
    root = localenv.project_root()
    try:
        local = localenv.prepare(root)
    except DevServerError as exc:
        _say(f"error: {exc}")
        return 1
    env = local.env
    latest = datetime.now(timezone.utc).date() - timedelta(days=1)
    first = latest - timedelta(days=args.days - 1)
    _say(BANNER)
    if local.sandbox:
        _say("SANDBOX MODE: COINCAP_API_KEY is not set, so every price below is SYNTHETIC,")
        _say(f"served by the local CoinCap sandbox at {local.base_url}.")
        _say("Export COINCAP_API_KEY=<your key> (https://pro.coincap.io) to load real data.")
    else:
        _say(f"CoinCap: {local.base_url} (credits are spent on your key)")
    merged = {**os.environ, **env}
    _say(f"PostgreSQL: {_redact(merged[names.DATABASE_URL])}")
    _say(f"MongoDB:    {_redact(merged[names.MONGODB_URI])}")
    _say(BANNER)
    logs = localenv.state_dir(root) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"run-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.log"
    started_at = datetime.now(timezone.utc)
    _reap_dead_runs(env)
    _say(f"[1/2] asset_history {first}...{latest} ({args.days} days, one range run)")
    _materialize(env, "asset_history", ["--partition-range", f"{first}...{latest}"], log, "history")
    _say(f"[2/2] raw_assets + market_snapshots for the latest closed day, {latest}")
    _materialize(env, "raw_assets,market_snapshots", ["--partition", str(latest)], log, "snapshots")
    _say()
    _say(f"{'table':<18} {'slice':<40} {'postgres':>9} {'mongodb':>9}")
    for name, described, pg_rows, mongo_docs in _counts(env, first, latest, latest):
        _say(f"{name:<18} {described:<40} {pg_rows:>9} {mongo_docs:>9}")
    _print_spend(merged, started_at)
    _say()
    _say(f"Run log: {log}")
    _say("Open the Dagster UI: make dev  ->  http://localhost:3000")
    _say("Open the dashboard:  make dashboard  ->  http://localhost:8501")
    _say("Stop local servers:  make stop")
    return 0


def _print_spend(merged: dict[str, str], since: datetime) -> None:
    from criptopipe.storage import ledger

    schema = merged.get(names.PG_SCHEMA, names.DEFAULT_SCHEMA)
    spent = ledger.spent_since(merged[names.DATABASE_URL], schema, since)
    requests = sum(r for r, _, _ in spent.values())
    credits = sum(c for _, _, c in spent.values())
    _say()
    _say(f"CoinCap spend this run: {requests} requests, {credits} credits")
    for asset, (r, b, c) in spent.items():
        _say(f"  {asset:<18} {r:>5} requests {b:>12,} bytes {c:>6} credits")


def _redact(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _exec_with_env(argv: list[str], with_sandbox: bool = True, reap: bool = False) -> int:
    try:
        local = localenv.prepare(with_sandbox=with_sandbox)
    except DevServerError as exc:
        _say(f"error: {exc}")
        return 1
    if local.sandbox:
        _say(f"SANDBOX MODE: CoinCap data is SYNTHETIC ({local.base_url}).")
    if reap:
        _reap_dead_runs(local.env)
    env = {**os.environ, **local.env}
    os.execvpe(argv[0], argv, env)
    return 0  # pragma: no cover - exec does not return


def cmd_dev(args: argparse.Namespace) -> int:
    root = localenv.project_root()
    return _exec_with_env(
        [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-w",
            str(root / "workspace.yaml"),
            "-h",
            args.host,
            "-p",
            str(args.port),
        ],
        reap=True,
    )


def cmd_dashboard(args: argparse.Namespace) -> int:
    app = Path(__file__).resolve().parent / "dashboard" / "app.py"
    return _exec_with_env(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(app),
            "--server.port",
            str(args.port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        with_sandbox=False,
    )


def cmd_env(_: argparse.Namespace) -> int:
    try:
        local = localenv.prepare()
    except DevServerError as exc:
        _say(f"error: {exc}")
        return 1
    for key, value in local.env.items():
        _say(f"export {key}={value}")
    return 0


def cmd_stop(_: argparse.Namespace) -> int:
    stopped = localenv.stop()
    _say("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def _window(args: argparse.Namespace) -> tuple[date, date]:
    """[first, end) from --partition D or --partition-range A...B."""
    if args.partition:
        first = date.fromisoformat(args.partition)
        return first, first + timedelta(days=1)
    if not args.partition_range or "..." not in args.partition_range:
        raise SystemExit("give --partition YYYY-MM-DD or --partition-range YYYY-MM-DD...YYYY-MM-DD")
    a, b = args.partition_range.split("...", 1)
    first, last = date.fromisoformat(a), date.fromisoformat(b)
    if last < first:
        raise SystemExit(f"empty range: {a} is after {b}")
    return first, last + timedelta(days=1)


def _env_value(name: str) -> str | None:
    return os.environ.get(name) or None


def cmd_plan(args: argparse.Namespace) -> int:
    """Print requests and credits a materialization will cost, before any call."""
    from criptopipe import planner
    from criptopipe.ingest import SnapshotSource, snapshot_source

    first, end = _window(args)
    coins = [c for c in (args.coins or _env_value(names.COINS) or "").split(",") if c.strip()]
    top_n = args.top_n or int(_env_value(names.TOP_N) or names.DEFAULT_TOP_N)
    count = len(coins) or top_n
    now = datetime.now(timezone.utc)
    live = sum(
        1
        for i in range((end - first).days)
        if snapshot_source(first + timedelta(days=i), now, timedelta(hours=24))
        is SnapshotSource.LIVE
    )
    estimates: list[planner.Estimate] = []
    for asset in [a.strip() for a in args.select.split(",") if a.strip()]:
        if asset == "asset_history":
            estimates.append(
                planner.estimate_history(count, first, end, args.span_days, resolve_top_n=not coins)
            )
        elif asset == "raw_assets":
            estimates.append(planner.estimate_raw_assets(count, live))
        elif asset == "market_snapshots":
            estimates.append(
                planner.estimate_markets(
                    count, live, args.markets_per_coin, resolve_top_n=not coins
                )
            )
        else:
            raise SystemExit(
                f"unknown asset {asset!r}: asset_history, raw_assets, market_snapshots"
            )
    universe = ", ".join(coins) if coins else f"top {top_n} by market cap"
    _say(f"plan: {first}...{end - timedelta(days=1)} ({(end - first).days} days), {universe}")
    _say(f"{'asset':<18} {'requests':>9} {'bytes':>14} {'credits':>9}")
    for e in estimates:
        _say(
            f"{e.asset:<18} {e.requests:>9,} {e.bytes:>14,} {e.credits:>9,}   {'; '.join(e.notes)}"
        )
    total_requests = sum(e.requests for e in estimates)
    total_credits = sum(e.credits for e in estimates)
    _say(f"{'total':<18} {total_requests:>9,} {'':>14} {total_credits:>9,}")
    budget_raw = args.budget if args.budget is not None else _env_value(names.CREDIT_BUDGET)
    if budget_raw is not None and budget_raw.strip().lower() in {"off", "none", "unlimited"}:
        _say("COINCAP_CREDIT_BUDGET=off: runs are not budget-guarded")
        return 0
    budget = int(budget_raw) if budget_raw is not None else names.DEFAULT_CREDIT_BUDGET
    spent = 0
    url = _env_value(names.DATABASE_URL)
    if url:
        from criptopipe.storage import ledger

        schema = _env_value(names.PG_SCHEMA) or names.DEFAULT_SCHEMA
        base = _env_value(names.COINCAP_BASE_URL) or names.DEFAULT_BASE_URL
        spent = ledger.spent_this_month(url, schema, source=base)
    try:
        _say(planner.check_budget(total_credits, budget, spent))
    except planner.BudgetExceededError as exc:
        _say(f"REFUSED: {exc}")
        return 2
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Rebuild PostgreSQL tables from the MongoDB raw archive: zero API calls."""
    from criptopipe.replay import replay
    from criptopipe.storage.datasets import DATASETS
    from criptopipe.storage.mongo import MongoStore
    from criptopipe.storage.postgres import PostgresStore

    first, end = _window(args)
    url, uri = _env_value(names.DATABASE_URL), _env_value(names.MONGODB_URI)
    if not url or not uri:
        local = localenv.prepare(with_sandbox=False)
        url, uri = local.env[names.DATABASE_URL], local.env[names.MONGODB_URI]
    schema = _env_value(names.PG_SCHEMA) or names.DEFAULT_SCHEMA
    pg, mongo = PostgresStore(url, schema=schema), MongoStore(uri)
    for name in [a.strip() for a in args.select.split(",") if a.strip()]:
        if name not in DATASETS:
            raise SystemExit(f"unknown asset {name!r}: {', '.join(DATASETS)}")
        result = replay(pg, mongo, DATASETS[name], first, end, progress=_say)
        _say(
            f"{name}: {result.rows} rows rebuilt over {result.days_replayed} day(s) from the "
            f"archive, 0 API calls"
            + (
                f"; {len(result.days_without_archive)} day(s) had no archived documents and "
                "were left as they were"
                if result.days_without_archive
                else ""
            )
        )
    return 0


def cmd_fill_gaps(args: argparse.Namespace) -> int:
    """Fetch only the (coin, day) holes of asset_history in a range, as one Dagster run."""
    first, end = _window(args)
    root = localenv.project_root()
    local = localenv.prepare(root)
    logs = localenv.state_dir(root) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"fill-gaps-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.log"
    config = '{"ops": {"asset_history": {"config": {"fill_gaps": true}}}}'
    _reap_dead_runs(local.env)
    _materialize(
        local.env,
        "asset_history",
        ["--partition-range", f"{first}...{end - timedelta(days=1)}", "--config-json", config],
        log,
        "fill gaps",
    )
    _say(f"log: {log}")
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
    run.set_defaults(func=cmd_run)
    dev = sub.add_parser("dev", help="the Dagster UI and daemon on the project's instance")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(func=cmd_dev)
    dash = sub.add_parser("dashboard", help="the Streamlit dashboard")
    dash.add_argument("--port", type=int, default=8501)
    dash.set_defaults(func=cmd_dashboard)
    plan = sub.add_parser("plan", help="requests and credits a materialization will cost")
    _add_window(plan)
    plan.add_argument("--coins", help="comma-separated CoinCap ids (default: CRIPTOPIPE_COINS)")
    plan.add_argument("--top-n", type=int, help="top N by market cap (default: CRIPTOPIPE_TOP_N)")
    plan.add_argument("--span-days", type=int, default=365, help="days per history request")
    plan.add_argument("--markets-per-coin", type=int, default=names.DEFAULT_MARKETS_PER_COIN)
    plan.add_argument("--budget", help="credits per month (default: COINCAP_CREDIT_BUDGET)")
    plan.set_defaults(func=cmd_plan)
    rep = sub.add_parser("replay", help="rebuild PostgreSQL from the MongoDB archive (0 calls)")
    _add_window(rep)
    rep.set_defaults(func=cmd_replay)
    gaps = sub.add_parser("fill-gaps", help="fetch only the missing (coin, day) history")
    _add_window(gaps)
    gaps.set_defaults(func=cmd_fill_gaps)
    sub.add_parser("env", help="print the variables a local run uses").set_defaults(func=cmd_env)
    sub.add_parser("stop", help="stop local servers and the sandbox").set_defaults(func=cmd_stop)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
