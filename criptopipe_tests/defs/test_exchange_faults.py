"""Bad input and faults on `exchange_candles`, through real CCXT against the exchange sandbox and
the IO manager on the real servers: each gives a clear error or a reported gap, never a
half-written slice, and a rerun converges."""

from __future__ import annotations

from typing import Any

import pandas as pd
from psycopg import sql

from criptopipe.datasets import EXCHANGE_CANDLES
from criptopipe.defs.assets.exchanges import exchange_candles
from criptopipe.defs.exchange_resource import ExchangesResource
from criptopipe.sources.exchanges.sandbox import ExchangeSandbox
from criptopipe.storage.slices import Slice
from criptopipe_tests.defs.exchange_fixtures import (
    WINDOW,
    check,
    exchange_sandbox,
    failures,
    load_candles,
    materialization,
    run,
    stored,
    xresources,
    xsb,
)

__all__ = ["exchange_sandbox", "xresources", "xsb"]


def _pair(pair: str) -> Slice:
    return Slice(WINDOW.start, WINDOW.end, frozenset({pair}))


def _same(a: tuple[pd.DataFrame, list], b: tuple[pd.DataFrame, list]) -> bool:  # type: ignore[type-arg]
    """Both stores' rows identical: values, fetch times and the archived records."""
    return bool(a[0].equals(b[0])) and a[1] == b[1]


def test_a_ban_mid_backfill_fails_at_once_writes_nothing_and_a_rerun_converges(
    xresources: dict[str, Any], xsb: ExchangeSandbox
) -> None:
    load_candles(xresources)
    before = stored(xresources, EXCHANGE_CANDLES)
    xsb.reset()
    # BTC and ETH are answered, SOL gets Binance's 418 (an IP ban)
    xsb.set_faults(
        {"rules": [{"exchange": "binance", "kind": "ban", "path": "SOLUSDT", "times": None}]}
    )
    banned = run(xresources, exchange_candles, checks=False)
    assert not banned.success
    (message,) = failures(banned)
    assert "binance banned this IP" in message and "rerun" in message
    assert [r["status"] for r in xsb.stats()["requests"] if "SOLUSDT" in r["path"]] == [418]
    assert not [e for e in banned.all_events if e.event_type_value == "STEP_RESTARTED"]
    assert _same(stored(xresources, EXCHANGE_CANDLES), before)  # nothing half written
    # the failed run's requests are in the ledger, as failed: 0 credits, the exchange's URL
    store = xresources["postgres"].store()
    with store.connect() as conn:
        rows = conn.execute(
            sql.SQL(
                "SELECT source, requests, credits FROM {} WHERE NOT succeeded ORDER BY source"
            ).format(sql.Identifier(store.schema, "credit_ledger"))
        ).fetchall()
    assert rows == [(f"{xsb.url('binance')}/api/v3", 4, 0), (xsb.url("kraken"), 6, 0)]

    xsb.set_faults({})
    again = run(xresources, exchange_candles, checks=False)
    assert again.success, failures(again)
    after = stored(xresources, EXCHANGE_CANDLES)
    assert after[0][["pair", "day", "close"]].equals(before[0][["pair", "day", "close"]])
    assert [d["record"] for d in after[1]] == [d["record"] for d in before[1]]


def test_a_429_storm_and_cut_json_are_retried_and_the_run_succeeds(
    xresources: dict[str, Any], xsb: ExchangeSandbox
) -> None:
    load_candles(xresources)
    before = stored(xresources, EXCHANGE_CANDLES)[0]
    xsb.set_faults(
        {
            "rules": [
                {"exchange": "binance", "kind": "throttle", "path": "klines", "times": 3},
                {"exchange": "kraken", "kind": "truncate", "path": "OHLC", "times": 1},
            ]
        }
    )
    stormy = run(xresources, exchange_candles, checks=False)
    assert stormy.success, failures(stormy)
    meta = materialization(stormy, "exchange_candles")
    assert meta["requests"] == meta["physical_minimum_requests"] + 4  # three 429s, one cut body
    by_exchange = meta["requests_by_exchange"]
    assert by_exchange["binance"]["retries"] == 3 and by_exchange["kraken"]["retries"] == 1
    after = stored(xresources, EXCHANGE_CANDLES)[0]
    assert after[["pair", "day", "close"]].equals(before[["pair", "day", "close"]])


def test_a_pair_the_exchange_stopped_serving_is_reported_and_keeps_its_rows(
    xresources: dict[str, Any], xsb: ExchangeSandbox
) -> None:
    """Markets loaded at the start of the run list SOL/USDT; the exchange then refuses it
    (delisted or renamed meanwhile): the pair is reported and left out, the rest is written."""
    load_candles(xresources)
    sol = _pair("binance:SOL/USDT")
    before = stored(xresources, EXCHANGE_CANDLES, sol)
    xsb.set_faults(
        {
            "rules": [
                {"exchange": "binance", "kind": "unknown_symbol", "path": "SOLUSDT", "times": None}
            ]
        }
    )
    changed = run(xresources, exchange_candles, checks=False)
    assert changed.success, failures(changed)
    meta = materialization(changed, "exchange_candles")
    assert list(meta["unavailable_pairs"]) == ["binance:SOL/USDT"]
    assert "reload markets" in meta["unavailable_pairs"]["binance:SOL/USDT"]
    assert "binance:SOL/USDT" not in meta["pair_ids"]
    assert _same(stored(xresources, EXCHANGE_CANDLES, sol), before)
    assert len(stored(xresources, EXCHANGE_CANDLES)[0]) == 70

    xsb.set_faults({})
    assert run(xresources, exchange_candles, checks=False).success
    assert (
        stored(xresources, EXCHANGE_CANDLES, sol)[0]["fetched_at"].iloc[0]
        > (before[0]["fetched_at"].iloc[0])
    )


def test_an_empty_answer_never_erases_a_pairs_candles(
    xresources: dict[str, Any], xsb: ExchangeSandbox
) -> None:
    load_candles(xresources)
    eth = _pair("binance:ETH/USDT")
    before = stored(xresources, EXCHANGE_CANDLES, eth)
    assert len(before[0]) == 10
    xsb.set_faults(
        {"rules": [{"exchange": "binance", "kind": "empty", "path": "ETHUSDT", "times": None}]}
    )
    result = run(xresources, exchange_candles)
    assert result.success, failures(result)
    assert _same(stored(xresources, EXCHANGE_CANDLES, eth), before)
    meta = materialization(result, "exchange_candles")
    assert meta["held_back"] == {"binance:ETH/USDT": 10}
    verdict = check(result, "empty_answers", "exchange_candles")
    assert verdict.passed is False and "binance:ETH/USDT (10 stored rows)" in verdict.description


def test_an_unknown_exchange_id_fails_at_once_naming_ccxts_close_ids(
    xresources: dict[str, Any], xsb: ExchangeSandbox
) -> None:
    bad = {**xresources, "exchanges": ExchangesResource(exchanges=["binanse"])}
    result = run(bad, exchange_candles, checks=False)
    assert not result.success
    (message,) = failures(result)
    assert "unknown exchange id 'binanse'" in message and "binance" in message
    assert xsb.stats()["binance"]["requests"] == 0


def test_without_coincap_symbols_the_run_says_to_load_raw_assets_first(
    xresources: dict[str, Any], xsb: ExchangeSandbox
) -> None:
    result = run(xresources, exchange_candles, checks=False)
    assert not result.success
    (message,) = failures(result)
    assert "Materialize raw_assets for the latest closed day first" in message
    assert xsb.stats()["binance"]["requests"] == 0 and xsb.stats()["kraken"]["requests"] == 0
