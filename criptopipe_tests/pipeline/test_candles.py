"""The candle run without Dagster: an exchange that stays down fails the whole fetch with a
retryable error while the ledger keeps what was sent; pairs beyond Kraken's horizon are never
in a write's slice; the pace guard refuses a rate limit that would get the IP banned."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import pytest
from psycopg import sql

from criptopipe.datasets import EXCHANGE_CANDLES
from criptopipe.pipeline import planner
from criptopipe.pipeline.candles import CandleSpend, PairFetch, write_slices
from criptopipe.sources.exchanges import (
    CandleFetch,
    DayGap,
    ExchangeSettings,
    GapReason,
    RetriesExhaustedError,
    SymbolMatch,
    TrackedCoin,
)
from criptopipe.sources.exchanges.sandbox import ExchangeSandbox
from criptopipe.storage.postgres import PostgresStore
from criptopipe.storage.slices import Slice

TODAY = datetime.now(timezone.utc).date()


@pytest.fixture(scope="module")
def xsb() -> Iterator[ExchangeSandbox]:
    with ExchangeSandbox(port=0, coins=40) as sb:
        yield sb


def test_an_exchange_down_fails_the_fetch_and_the_ledger_keeps_its_requests(
    xsb: ExchangeSandbox, pg_url: str, pg_schema: str
) -> None:
    store = PostgresStore(pg_url, schema=pg_schema)
    store.ensure_schema([EXCHANGE_CANDLES])
    xsb.set_faults(
        {
            "rules": [
                {
                    "exchange": "kraken",
                    "kind": "status",
                    "status": 503,
                    "path": "OHLC",
                    "times": None,
                }
            ]
        }
    )
    settings = ExchangeSettings(
        url_overrides=xsb.urls,
        rate_limit_ms={"binance": 1, "kraken": 1},
        max_attempts=2,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
    )
    window = Slice(TODAY - timedelta(days=5), TODAY)
    spend = CandleSpend(
        settings,
        store,
        run_id="r1",
        asset="exchange_candles",
        window=window,
        log=lambda _: None,
        warn=lambda _: None,
    )
    try:
        with pytest.raises(RetriesExhaustedError) as caught:
            spend.fetch([TrackedCoin(id="bitcoin", symbol="BTC")], window.start, window.end)
    finally:
        xsb.set_faults({})
    assert caught.value.retryable is True and "gave up after 2 attempt(s)" in str(caught.value)
    with store.connect() as conn:
        rows = conn.execute(
            sql.SQL("SELECT source, requests, credits, succeeded FROM {} ORDER BY source").format(
                sql.Identifier(pg_schema, "credit_ledger")
            )
        ).fetchall()
    # whatever went out is recorded, as failed, with no credit: binance's market load (its
    # pair's request may have been cancelled), kraken's two loads and two failed attempts
    (binance, kraken) = rows
    assert binance[0] == f"{xsb.url('binance')}/api/v3" and binance[1] >= 1
    assert kraken == (xsb.url("kraken"), 2 + 2, 0, False)
    assert binance[2:] == (0, False)


def _fetched(exchange: str, symbol: str, first: date, end: date, gaps: list[DayGap]) -> PairFetch:
    match = SymbolMatch(
        coin_id="bitcoin",
        coin_symbol="BTC",
        exchange=exchange,
        symbol=symbol,
        market_id=symbol.replace("/", ""),
        base="BTC",
        quote=symbol.split("/")[1],
    )
    fetch = CandleFetch(
        exchange=exchange,
        symbol=symbol,
        market_id=match.market_id,
        first_day=first,
        end_day=end,
        candles=[],
        gaps=gaps,
        requests=1,
    )
    return PairFetch(match, fetch)


def test_days_beyond_krakens_horizon_are_never_in_a_write_slice() -> None:
    first, end = date(2020, 1, 1), date(2025, 1, 1)
    horizon = DayGap(
        first=first, last=date(2023, 1, 11), reason=GapReason.BEYOND_HORIZON, detail=""
    )
    beyond = DayGap(
        first=first, last=date(2024, 12, 31), reason=GapReason.BEYOND_HORIZON, detail=""
    )
    listed = DayGap(first=first, last=date(2021, 1, 1), reason=GapReason.NOT_LISTED_YET, detail="")
    pairs = [
        _fetched("binance", "BTC/USDT", first, end, [listed]),
        _fetched("kraken", "BTC/USD", first, end, [horizon]),
        _fetched("kraken", "ETH/USD", first, end, [horizon]),
        _fetched("kraken", "OLD/USD", first, end, [beyond]),
        PairFetch(_fetched("binance", "SOL/USDT", first, end, []).match, None, "refused"),
    ]
    slices, left_out = write_slices(pairs, first, end)
    # a pair not listed yet owns its whole window (nothing of it can exist anywhere)
    assert slices == [
        Slice(first, end, frozenset({"binance:BTC/USDT"})),
        Slice(date(2023, 1, 12), end, frozenset({"kraken:BTC/USD", "kraken:ETH/USD"})),
    ]
    assert left_out == ["binance:SOL/USDT", "kraken:OLD/USD"]


def test_the_pace_guard_refuses_a_rate_limit_that_would_get_the_ip_banned() -> None:
    first, end = date(2024, 1, 1), date(2025, 1, 1)
    big = EXCHANGE_CANDLES.estimate(
        planner.PlanRequest(first, end, 4000, False, 0, 1, None, ("binance", "kraken"), TODAY)
    )
    (binance, kraken) = big.sources
    assert (binance.requests, binance.weight) == (4001, 20 + 4000 * 2)
    assert (kraken.requests, kraken.weight) == (4002, 0) and big.credits == 0
    # CCXT's own spacing (50 ms x cost 0.4) is Binance's 6000 a minute exactly: allowed
    assert planner.check_pace(big, {}) == ["binance: weight 8020, at most 6000 a minute of 6000"]
    with pytest.raises(planner.BudgetExceededError, match="CRIPTOPIPE_EXCHANGE_RATE_LIMIT_MS"):
        planner.check_pace(big, {"binance": 5})
    small = EXCHANGE_CANDLES.estimate(
        planner.PlanRequest(first, end, 20, False, 0, 1, None, ("binance",), TODAY)
    )
    assert planner.check_pace(small, {"binance": 1})  # a run whose weight fits a minute passes


def test_criptopipe_plan_prints_requests_per_exchange_and_refuses_a_banning_pace(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from criptopipe import cli, config

    for field in config.Settings.model_fields.values():
        if field.alias:
            monkeypatch.delenv(field.alias, raising=False)
    args = ["plan", "--select", "exchange_candles", "--partition-range", "2022-01-01...2025-12-31"]
    assert cli.main([*args, "--coins", "bitcoin,ethereum"]) == 0
    out = capsys.readouterr().out
    assert "  binance                  5 " in out and "weight 28" in out  # 1 + 2 pairs x 2 pages
    assert "  kraken                   4 " in out  # 2 to load markets + 2 pairs x 1 (horizon)
    monkeypatch.setenv("CRIPTOPIPE_EXCHANGE_RATE_LIMIT_MS", "binance=1")
    assert cli.main([*args, "--top-n", "2000"]) == 2
    assert "REFUSED" in capsys.readouterr().out
