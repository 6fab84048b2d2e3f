"""One price truth per coin per day, and sources_agree's verdicts: pure, frames in, rows out."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pandas as pd

from criptopipe import quality
from criptopipe.datasets import DAILY_PRICES
from criptopipe.transform import prices

DAY = date(2025, 6, 1)
NOW = datetime(2025, 6, 2, tzinfo=timezone.utc)


def _history(*points: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"coin_id": c, "day": DAY, "price_usd": Decimal(p)} for c, p in points], dtype=object
    )


def _candle(exchange: str, symbol: str, close: str, quote_volume: str, base_volume: str) -> dict:  # type: ignore[type-arg]
    return {
        "pair": f"{exchange}:{symbol}",
        "day": DAY,
        "exchange": exchange,
        "symbol": symbol,
        "coin_id": "bitcoin",
        "quote": symbol.split("/")[1],
        "close": Decimal(close),
        "quote_volume": Decimal(quote_volume) if quote_volume else None,
        "base_volume": Decimal(base_volume),
    }


def test_median_and_spread_compare_averages_and_keep_closes_beside() -> None:
    candles = pd.DataFrame(
        [
            # VWAP 100.5 (quote volume / base volume), close far from it on a day that moved
            _candle("binance", "BTC/USDT", "104.0", "201.0", "2"),
            _candle("kraken", "BTC/USD", "96.0", "303.0", "3"),  # VWAP 101
            _candle("binance", "ETH/BTC", "0.05", "1", "20"),  # not a dollar: left out
        ],
        dtype=object,
    )
    result = prices.daily_prices(_history(("bitcoin", "100"), ("tether", "1.0001")), candles, NOW)
    assert result.skipped_quotes == ["binance:ETH/BTC"]
    btc, usdt = result.rows
    assert (btc["coin_id"], btc["median_usd"], btc["sources"]) == ("bitcoin", Decimal("100.5"), 3)
    assert btc["spread_pct"] == Decimal("0.995025")  # (101 - 100) / 100.5
    assert (btc["outlier"], btc["outlier_pct"]) == ("coincap d1", Decimal("-0.497512"))
    # the closes (4% apart) are kept, with their distance from the median, and not judged
    kept = btc["record"]["exchanges"]
    assert kept["binance"] == {
        "symbol": "BTC/USDT",
        "quote": "USDT",
        "close": "104.0",
        "vwap": "100.5",
    }
    assert '"close_vs_median_pct": "3.482587"' in btc["prices"]
    # a coin with CoinCap's price only: one source, nothing to compare, a row all the same
    assert (usdt["coin_id"], usdt["sources"], usdt["spread_pct"], usdt["outlier"]) == (
        "tether",
        1,
        Decimal(0),
        None,
    )
    # the archive's record rebuilds the same row, no other dataset read
    docs = [
        {"coin_id": r["coin_id"], "day": r["day"], "record": r["record"], "fetched_at": NOW}
        for r in result.rows
    ]
    assert prices.rows_from_documents(docs) == result.rows
    assert len(DAILY_PRICES.frame(result.rows)) == 2


def test_a_day_without_volume_has_no_vwap_and_is_not_compared() -> None:
    candles = pd.DataFrame([_candle("kraken", "BTC/USD", "99", "0", "0")], dtype=object)
    (row,) = prices.daily_prices(_history(("bitcoin", "100")), candles, NOW).rows
    assert row["sources"] == 1 and row["record"]["exchanges"]["kraken"]["vwap"] is None


def _verdict_frame(*rows: tuple[str, str, str, int]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "coin_id": "bitcoin",
                "day": DAY,
                "spread_pct": Decimal(spread),
                "outlier": outlier,
                "outlier_pct": Decimal(off),
                "sources": n,
            }
            for spread, outlier, off, n in rows
        ],
        dtype=object,
    )


def test_sources_agree_levels() -> None:
    ok = quality.sources_agree(_verdict_frame(("0.5", "kraken vwap", "0.3", 3)), 2, 10)
    assert ok.passed and ok.metadata["level"] == "ok"
    warn = quality.sources_agree(_verdict_frame(("5.1", "kraken vwap", "4.9", 3)), 2, 10)
    assert not warn.passed and warn.metadata["level"] == "warning"
    assert warn.description.startswith("1 (coin, day) whose sources spread wider than 2%")
    assert (
        "bitcoin 2025-06-01: spread 5.10%, kraken vwap +4.90% from the median" in warn.description
    )
    error = quality.sources_agree(_verdict_frame(("25", "binance vwap", "-12.5", 2)), 2, 10)
    assert (
        error.metadata["level"] == "error"
        and "(of 2 prices: either may be off)" in error.description
    )
    assert error.metadata["outliers_by_source"] == {"binance vwap": 1}
