"""`exchange_candles` and `daily_prices` materialized in process through the IO manager, against
both sandboxes and the real servers: both stores, exact candles as sent, the physical minimum of
requests, the ledger, reruns without duplicates, and `sources_agree` on consistent and on skewed
exchange prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import dagster as dg

from criptopipe.datasets import DAILY_PRICES, EXCHANGE_CANDLES
from criptopipe.defs.assets.derived import daily_prices
from criptopipe.defs.assets.exchanges import exchange_candles
from criptopipe.pipeline import planner
from criptopipe.sources.exchanges.sandbox import ExchangeSandbox
from criptopipe.storage import ledger
from criptopipe_tests.defs.exchange_fixtures import (
    COINS,
    WINDOW,
    check,
    exchange_sandbox,
    failures,
    load_all,
    materialization,
    run,
    stored,
    xresources,
    xsb,
)

__all__ = ["exchange_sandbox", "xresources", "xsb"]

PAIRS = {
    "binance:BTC/USDT",
    "binance:ETH/USDT",
    "binance:SOL/USDT",
    "kraken:BTC/USDT",
    "kraken:ETH/USDT",
    "kraken:SOL/USD",
    "kraken:USDT/USD",
}


def test_candles_and_prices_land_in_both_stores_and_rerun_without_duplicates(
    xresources: dict[str, Any], xsb: ExchangeSandbox
) -> None:
    xsb.reset()
    result = load_all(xresources)
    stats = xsb.stats()
    # the physical minimum: one market load and one candle request per pair, per exchange
    assert stats["binance"]["by_route"] == {"exchangeInfo": 1, "klines": 3}
    assert stats["kraken"]["by_route"] == {"Assets": 1, "AssetPairs": 1, "OHLC": 4}
    meta = materialization(result, "exchange_candles")
    assert meta["requests"] == meta["physical_minimum_requests"] == 4 + 6
    # the plan (the registry's estimator, as `criptopipe plan` prints it) is that bound: four
    # coins per exchange, of which binance trades three
    plan = EXCHANGE_CANDLES.estimate(
        planner.PlanRequest(WINDOW.start, WINDOW.end, 4, False, 0, 1, None, ("binance", "kraken"))
    )
    assert [(s.source, s.requests, s.weight) for s in plan.sources] == [
        ("binance", 5, 28),
        ("kraken", 6, 0),
    ]
    assert any("tether (USDT) has no spot market on binance" in m for m in meta["unmapped"])

    pg, docs = stored(xresources, EXCHANGE_CANDLES)
    assert set(pg["pair"]) == PAIRS and len(pg) == len(PAIRS) * 10
    assert {(d["pair"], str(d["day"].date())) for d in docs} == {
        (p, str(d)) for p, d in zip(pg["pair"], pg["day"], strict=True)
    }
    btc = pg[pg["pair"] == "binance:BTC/USDT"].iloc[0]
    assert (btc["coin_id"], btc["quote"], btc["market_id"]) == ("bitcoin", "USDT", "BTCUSDT")
    doc = next(d for d in docs if d["pair"] == "binance:BTC/USDT")
    # MongoDB keeps the kline exactly as Binance sent it; PostgreSQL its exact decimals
    assert isinstance(doc["record"], list) and len(doc["record"]) == 12
    assert str(btc["close"]) == doc["record"][4] and str(btc["quote_volume"]) == doc["record"][7]
    # the archive rebuilds the table to the last digit, with no request
    rebuilt = EXCHANGE_CANDLES.frame_from_documents(docs)
    columns = EXCHANGE_CANDLES.column_names
    assert (
        rebuilt[columns].sort_values(["pair", "day"]).values.tolist() == pg[columns].values.tolist()
    )

    # every exchange's requests are in the ledger: 0 credits, the exchange's URL as source
    spent = ledger.spent_since(
        xresources["postgres"].store(), ledger.month_start(), source=f"{xsb.url('binance')}/api/v3"
    )
    assert spent == {"exchange_candles": (4, spent["exchange_candles"][1], 0)}

    prices, _ = stored(xresources, DAILY_PRICES)
    assert set(prices["coin_id"]) == set(COINS) and len(prices) == 40
    btc_day = prices[prices["coin_id"] == "bitcoin"].iloc[0]
    assert btc_day["sources"] == 3 and Decimal(btc_day["spread_pct"]) < 1
    assert set(btc_day["prices"]["exchanges"]) == {"binance", "kraken"}
    agree = check(result, "sources_agree")
    assert agree.passed is True, agree.description

    before = stored(xresources, EXCHANGE_CANDLES)[0]
    again = run(xresources, exchange_candles, daily_prices)
    assert again.success, failures(again)
    after = stored(xresources, EXCHANGE_CANDLES)[0]
    assert len(after) == len(before) and not after.duplicated(["pair", "day"]).any()
    assert after["close"].tolist() == before["close"].tolist()
    assert set(after["fetched_at"]) != set(before["fetched_at"])  # written again, not appended
    assert len(stored(xresources, DAILY_PRICES)[0]) == 40
    assert check(again, "no_duplicate_keys", "exchange_candles").passed is True
    assert check(again, "stores_agree", "daily_prices").passed is True


def test_sources_agree_warns_when_one_exchange_is_skewed_and_errs_far_off(
    xresources: dict[str, Any], xsb: ExchangeSandbox
) -> None:
    load_all(xresources)
    xsb.set_skew({"kraken": 5.0})
    warned = run(xresources, exchange_candles, daily_prices)
    assert warned.success, failures(warned)
    verdict = check(warned, "sources_agree")
    assert verdict.passed is False and verdict.severity == dg.AssetCheckSeverity.WARN
    assert "kraken vwap" in verdict.description and "bitcoin" in verdict.description
    assert "spread wider than 2%" in verdict.description

    xsb.set_skew({"kraken": 25.0})
    wrong = run(xresources, exchange_candles, daily_prices)
    verdict = check(wrong, "sources_agree")
    assert verdict.passed is False and verdict.severity == dg.AssetCheckSeverity.ERROR
    assert "more than 10% from the median" in verdict.description
    assert "kraken vwap" in verdict.description
