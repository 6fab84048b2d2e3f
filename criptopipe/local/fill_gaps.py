"""`criptopipe fill-gaps`: fetch only the (coin, day) pairs the warehouse is missing.

The gaps are found here first, from PostgreSQL, with the same rule the asset uses
(`pipeline.ingest.find_gaps`), and printed. Nothing missing: no run and no CoinCap call. Else
one Dagster run per dataset with `fill_gaps: true` and the coins named explicitly (so a top-N
universe costs no call to resolve), then what it filled and what it spent.

The coins are `--coins`, else CRIPTOPIPE_COINS, else the coins of the latest asset-list
snapshot the warehouse holds (the tracked top N when it was taken).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

from criptopipe import config, datasets
from criptopipe.local import commands
from criptopipe.pipeline import preflight
from criptopipe.pipeline.ingest import Gap, find_gaps
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import Slice
from criptopipe.text import plural

say = commands.say


def tracked_coins(
    settings: config.Settings, store: PostgresStore, given: tuple[str, ...]
) -> list[str]:
    if given or settings.coins:
        return list(given or settings.coins)
    snapshot = next(
        (ds for ds in datasets.all_datasets() if ds.snapshot and ds.source == "coincap"), None
    )
    if snapshot is None:
        return []
    return store.latest_coins(snapshot)[1]


def gaps_of(
    store: PostgresStore, ds: datasets.Dataset, coins: list[str], window: Slice
) -> list[Gap]:
    """The runs of (coin, day) pairs in `window` that `ds` does not hold for `coins`."""
    coin_at, day_at = ds.key.index(ds.coin_column), ds.key.index(ds.partition_column)
    have = {(str(k[coin_at]), k[day_at]) for k in store.keys(ds, window.narrow(coins))}
    return find_gaps(coins, window.start, window.end, have)


def describe(gaps: list[Gap]) -> str:
    pairs = sum((end - start).days for _, start, end in gaps)
    coins = len({coin for coin, _, _ in gaps})
    return (
        f"{plural(len(gaps), 'gap')} covering {plural(pairs, '(coin, day) pair')} "
        f"in {plural(coins, 'coin')}"
    )


def cmd_fill_gaps(
    selected: list[datasets.Dataset], first: date, last: date, coins: tuple[str, ...]
) -> int:
    local = commands.prepare()
    if local is None:
        return 1
    settings = commands.use(local)
    preflight.stores(settings, say=say)
    store = PostgresStore(settings.require_database_url(), schema=settings.pg_schema)
    window = Slice.days(first, last)
    tracked = tracked_coins(settings, store, coins)
    if not tracked:
        say(
            "error: no tracked coins are known without a CoinCap call: pass --coins bitcoin,... "
            "or set CRIPTOPIPE_COINS, or run `make run` first (its asset list names them)."
        )
        return 2
    span = f"{first}...{last}"
    say(
        f"fill-gaps {span} ({plural(window.day_count, 'day')}), {plural(len(tracked), 'coin')}: "
        + ", ".join(tracked[:8])
        + (f" and {len(tracked) - 8} more" if len(tracked) > 8 else "")
    )
    todo = {ds.name: gaps_of(store, ds, tracked, window) for ds in selected}
    for ds in selected:
        gaps = todo[ds.name]
        say(f"{ds.name}: gaps found: {describe(gaps) if gaps else 'none'}")
        for coin, start, end in gaps[:10]:
            say(
                f"  {coin} {Slice(start, end).describe_days()} ({plural((end - start).days, 'day')})"
            )
        if len(gaps) > 10:
            say(f"  ... and {len(gaps) - 10} more")
    if not any(todo.values()):
        say("nothing is missing: no run started, no CoinCap call made (0 requests, 0 credits)")
        return 0
    if commands.missing_key(local):
        return 2
    commands.reap_dead_runs()
    log = commands.log_file("fill-gaps")
    started_at = datetime.now(timezone.utc)
    for ds in selected:
        gaps = todo[ds.name]
        if not gaps:
            continue
        coins_with_gaps = sorted({coin for coin, _, _ in gaps})
        run_config = {"ops": {ds.name: {"config": {"fill_gaps": True, "coins": coins_with_gaps}}}}
        before = store.count(ds, window.narrow(coins_with_gaps))
        commands.materialize(
            ds.name,
            ["--partition-range", span, "--config-json", json.dumps(run_config)],
            log,
            "fill gaps",
        )
        filled = store.count(ds, window.narrow(coins_with_gaps)) - before
        missing = sum((end - start).days for _, start, end in gaps)
        say(
            f"{ds.name}: filled {plural(filled, '(coin, day) pair')} of {missing}"
            + (
                f"; CoinCap has no data for {missing - filled} (still missing)"
                if filled < missing
                else ""
            )
        )
    commands._print_spend(settings, started_at)
    say(f"log: {log}")
    return 0
