"""The local commands behind `make run`, `make dev`, `make dashboard` and `make stop`.

`run` is the main job: the last N days of `asset_history` as ONE range run, then the latest
closed day of the snapshot datasets, then the same N days of `exchange_candles` and
`daily_prices` as one range run (the candles map coins by the symbols the snapshot just
loaded), each through `dg launch` (the same command users type), recorded in
the project's Dagster instance so the UI shows them. Whatever is not configured (servers, a
CoinCap key, exchange URLs) is started locally first (`criptopipe.local.env`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from criptopipe import config, datasets
from criptopipe.local import env as localenv
from criptopipe.local import settings as localcfg
from criptopipe.local.ports import DevServerError
from criptopipe.storage import ledger
from criptopipe.storage.errors import redact_url
from criptopipe.storage.mongo import MongoStore
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import Slice
from criptopipe.text import plural

BANNER = "=" * 78


def say(text: str = "") -> None:
    print(text, flush=True)


def use(local: localenv.LocalEnv) -> config.Settings:
    """Make the local environment this process's own, and read the settings from it."""
    os.environ.update(local.env)
    return config.settings()


def prepare(*, with_sandbox: bool = True, command: str = "make run") -> localenv.LocalEnv | None:
    try:
        return localenv.prepare(with_sandbox=with_sandbox, command=command)
    except (DevServerError, config.ConfigError) as exc:
        say(f"error: {exc}")
        return None


def missing_key(local_env: localenv.LocalEnv) -> bool:
    """Real CoinCap without a key: say so in one line, before any run (the run would fail on
    its first request)."""
    if local_env.sandbox or os.environ.get("COINCAP_API_KEY"):
        return False
    say(
        f"error: COINCAP_API_KEY is not set and COINCAP_BASE_URL={local_env.base_url} is not a "
        "local sandbox. Export COINCAP_API_KEY=<your key from https://pro.coincap.io/dashboard>, "
        "or unset COINCAP_BASE_URL to run on the local sandbox's synthetic data."
    )
    return True


def reap_dead_runs() -> None:
    """Fail and unblock runs whose process died (a kill -9 would otherwise wedge the pool), in
    the instance this process's environment points at (after `use`)."""
    from criptopipe.defs import recovery

    recovery.check_before_run(say)


def materialize(select: str, partition_args: list[str], log: Path, label: str) -> None:
    """`dg launch` (Dagster's current command; `dagster asset materialize` is superseded by it)
    in a child process with this process's environment."""
    dg_cli = str(Path(sys.executable).parent / "dg")
    cmd = [dg_cli, "launch", "-m", "criptopipe.definitions", "--assets", select, *partition_args]
    say(f"  {label}: dg launch --assets {select} {' '.join(partition_args)}")
    started = time.monotonic()
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        res = subprocess.run(cmd, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT)
    if res.returncode != 0:
        say("\n".join("    | " + line for line in root_errors(log)))
        raise SystemExit(f"\n{label} failed (exit {res.returncode}); full log: {log}")
    say(f"    done in {time.monotonic() - started:.1f}s")


def root_errors(log: Path, keep: int = 3) -> list[str]:
    """The error lines of a failed command's log (`SomeError: what happened`), last first
    seen, without the tracebacks around them; the log's last lines when it has none."""
    lines = log.read_text(errors="replace").splitlines()
    found: list[str] = []
    for line in lines:
        text = line.strip()
        head = text.split(":", 1)[0].rsplit(".", 1)[-1]
        if ": " in text and head.endswith(("Error", "Exception", "Failure")) and " " not in head:
            message = f"{head}: {text.split(': ', 1)[1]}"
            if message not in found:
                found.append(message)
    return found[-keep:] or lines[-15:]


def log_file(kind: str) -> Path:
    logs = localenv.state_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs / f"{kind}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.log"


def _counts(
    settings: config.Settings, history: Slice, snap: date
) -> list[tuple[str, str, int, int]]:
    pg = PostgresStore(settings.require_database_url(), schema=settings.pg_schema)
    mongo = MongoStore(settings.require_mongodb_uri())
    out = []
    try:
        for ds in datasets.all_datasets():
            slc = Slice.days(snap, snap) if ds.snapshot else history
            out.append((ds.name, slc.describe(), len(pg.keys(ds, slc)), len(mongo.keys(ds, slc))))
    finally:
        mongo.close()
    return out


def cmd_run(days: int) -> int:
    local = prepare()
    if local is None:
        return 1
    if missing_key(local):
        return 2
    settings = use(local)
    latest = datetime.now(timezone.utc).date() - timedelta(days=1)
    history = Slice.days(latest - timedelta(days=days - 1), latest)
    say(BANNER)
    if local.sandbox:
        say("SANDBOX MODE: every price below is SYNTHETIC, served by the local CoinCap")
        say(f"sandbox at {local.base_url}.")
        if local.exchange_sandbox:
            say("Every exchange CANDLE is SYNTHETIC too, served by the local exchange sandbox")
            say(f"at {local.exchange_sandbox} ({', '.join(settings.exchanges)} imitated).")
        say("Export COINCAP_API_KEY=<your key> (https://pro.coincap.io) to load real data.")
    else:
        say(f"CoinCap: {local.base_url} (credits are spent on your key)")
    if not local.exchange_sandbox:
        urls = settings.exchange_urls
        where = ", ".join(f"{ex} at {urls[ex]}" if ex in urls else ex for ex in settings.exchanges)
        say(f"Exchanges: {where} (public endpoints, no key, no credits)")
    say(f"PostgreSQL: {redact_url(settings.require_database_url())}")
    say(f"MongoDB:    {redact_url(settings.require_mongodb_uri())}")
    say(BANNER)
    log = log_file("run")
    started_at = datetime.now(timezone.utc)
    reap_dead_runs()
    span = f"{history.start}...{history.last}"
    say(f"[1/3] asset_history {span} ({plural(days, 'day')}, one range run)")
    materialize("asset_history", ["--partition-range", span], log, "history")
    snapshot_names = ",".join(ds.name for ds in datasets.all_datasets() if ds.snapshot)
    say(f"[2/3] {snapshot_names.replace(',', ' + ')} for the latest closed day, {latest}")
    materialize(snapshot_names, ["--partition", str(latest)], log, "snapshots")
    say(f"[3/3] exchange_candles + daily_prices {span} (one range run)")
    materialize(
        "exchange_candles,daily_prices", ["--partition-range", span], log, "candles and prices"
    )
    say()
    say(f"{'table':<18} {'slice':<40} {'postgres':>9} {'mongodb':>9}")
    for name, described, pg_rows, mongo_docs in _counts(settings, history, latest):
        say(f"{name:<18} {described:<40} {pg_rows:>9} {mongo_docs:>9}")
    _print_spend(settings, started_at)
    say()
    say(f"Run log: {log}")
    if local.local_servers:
        say("Dagster commands typed in this folder reach the same servers (.env), e.g.")
        say(f"  dg launch --assets asset_history --partition {latest}")
    ports = localcfg.local_settings()
    say(f"Open the Dagster UI: make dev  ->  http://{ports.ui_host}:{ports.port(localcfg.UI)[0]}")
    dash = f"http://{ports.dashboard_host}:{ports.port(localcfg.DASHBOARD)[0]}"
    say(f"Open the dashboard:  make dashboard  ->  {dash}")
    say("Stop everything:     make stop")
    return 0


def _print_spend(settings: config.Settings, since: datetime) -> None:
    store = PostgresStore(settings.require_database_url(), schema=settings.pg_schema)
    spent = ledger.spent_by_source(store, since)
    coincap = {k: v for k, v in spent.items() if k[1] == settings.coincap_base_url}
    requests = sum(r for r, _, _ in coincap.values())
    credits = sum(c for _, _, c in coincap.values())
    say()
    say(f"CoinCap spend this run: {plural(requests, 'request')}, {plural(credits, 'credit')}")
    for (asset, _), (r, b, c) in coincap.items():
        say(
            f"  {asset:<18} {plural(r, 'request'):>14} {plural(b, 'byte'):>18} {plural(c, 'credit'):>12}"
        )
    exchanges = {k: v for k, v in spent.items() if k not in coincap}
    if exchanges:
        total = sum(r for r, _, _ in exchanges.values())
        say(f"Exchange requests this run: {plural(total, 'request')} (no credits)")
        for (asset, source), (r, b, _) in exchanges.items():
            say(f"  {asset:<18} {plural(r, 'request'):>14} {plural(b, 'byte'):>18}   {source}")


def cmd_env() -> int:
    local = prepare()
    if local is None:
        return 1
    for key, value in local.env.items():
        say(f"export {key}={value}")
    return 0


def cmd_stop() -> int:
    stopped = localenv.stop()
    say("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0
