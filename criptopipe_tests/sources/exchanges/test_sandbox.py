"""The exchange sandbox speaks Binance's and Kraken's public REST over real TCP: shapes, paging
rules, weights, the horizon, errors, determinism, skew, counters, and its console command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx

from criptopipe.local.ports import free_port
from criptopipe.sources.exchanges.sandbox import ExchangeSandbox

DAY = timedelta(days=1)


def ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)


def today() -> date:
    return datetime.now(timezone.utc).date()


def same_minute() -> None:
    """Binance's weight resets with the calendar minute: start a weight test well inside one."""
    if time.time() % 60 > 57:
        time.sleep(60 - time.time() % 60 + 0.05)


def binance(sb: ExchangeSandbox, route: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{sb.url('binance')}/api/v3/{route}", params=params, timeout=10)


def kraken(sb: ExchangeSandbox, method: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{sb.url('kraken')}/0/public/{method}", params=params, timeout=10)


def test_binance_klines_follow_the_paging_rules_and_carry_weights(xsb: ExchangeSandbox) -> None:
    same_minute()
    start = date(2021, 3, 1)
    rows = binance(xsb, "klines", symbol="BTCUSDT", interval="1d", startTime=ms(start), limit=5)
    assert [r[0] for r in rows.json()] == [ms(start + i * DAY) for i in range(5)]
    row = rows.json()[0]
    assert len(row) == 12 and row[6] == row[0] + 86_400_000 - 1 and row[11] == "0"
    assert all(isinstance(row[i], str) for i in (1, 2, 3, 4, 5, 7, 9, 10))
    assert isinstance(row[8], int) and len(row[1].split(".")[1]) == 8
    # startTime not on midnight: the next midnight; endTime only: the newest up to it
    late = binance(xsb, "klines", symbol="BTCUSDT", interval="1d", startTime=ms(start) + 1, limit=1)
    assert late.json()[0][0] == ms(start + DAY)
    newest = binance(xsb, "klines", symbol="BTCUSDT", interval="1d", endTime=ms(start), limit=3)
    assert [r[0] for r in newest.json()] == [ms(start - i * DAY) for i in (2, 1, 0)]
    # every answer reports the minute's used weight: 2 per klines call
    assert (
        rows.headers["X-MBX-USED-WEIGHT-1M"] == "2"
        and newest.headers["x-mbx-used-weight-1m"] == "6"
    )
    too_many = binance(xsb, "klines", symbol="BTCUSDT", interval="1d", limit=1001)
    assert too_many.status_code == 400 and too_many.json()["code"] == -1130
    unknown = binance(xsb, "klines", symbol="NOPEUSDT", interval="1d")
    assert unknown.status_code == 400 and unknown.json() == {
        "code": -1121,
        "msg": "Invalid symbol.",
    }


def test_binance_weight_limit_answers_429_with_retry_after(xsb: ExchangeSandbox) -> None:
    same_minute()
    xsb.set_faults({"binance_weight_limit": 23})
    assert binance(xsb, "exchangeInfo").status_code == 200  # 20
    assert binance(xsb, "klines", symbol="BTCUSDT", interval="1d", limit=1).status_code == 200
    refused = binance(xsb, "klines", symbol="BTCUSDT", interval="1d", limit=1)  # 22 -> 24
    assert refused.status_code == 429 and refused.json()["code"] == -1003
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-MBX-USED-WEIGHT-1M"] == "24"


def test_binance_exchange_info_keeps_delisted_pairs_as_break(xsb: ExchangeSandbox) -> None:
    info = binance(xsb, "exchangeInfo").json()
    assert info["rateLimits"][0]["limit"] == 6000
    status = {s["symbol"]: s["status"] for s in info["symbols"]}
    assert status["MATICUSDT"] == "BREAK" and status["BTCUSDT"] == "TRADING"
    assert "USDTUSDT" not in status
    sol = next(s for s in info["symbols"] if s["symbol"] == "SOLUSDT")
    assert {f["filterType"] for f in sol["filters"]} >= {"PRICE_FILTER", "LOT_SIZE"}
    assert not {"contractType", "deliveryDate"} & set(sol)


def test_kraken_ohlc_has_the_720_horizon_the_open_row_and_last(xsb: ExchangeSandbox) -> None:
    body = kraken(xsb, "OHLC", pair="XBTUSD", interval=1440, since=0).json()
    assert body["error"] == [] and set(body["result"]) == {"XXBTZUSD", "last"}  # pair key
    rows = body["result"]["XXBTZUSD"]
    assert len(rows) == 720
    assert rows[-1][0] == ms(today()) // 1000  # the uncommitted day, always there
    assert body["result"]["last"] == rows[-2][0] == rows[-1][0] - 86_400
    assert len(rows[0]) == 8 and isinstance(rows[0][7], int) and isinstance(rows[0][1], str)
    # since is exclusive; the uncommitted row comes whatever since says
    since = ms(today() - 3 * DAY) // 1000
    recent = kraken(xsb, "OHLC", pair="XXBTZUSD", interval=1440, since=since).json()
    assert [r[0] for r in recent["result"]["XXBTZUSD"]] == [since + 86_400 * i for i in (1, 2, 3)]
    future = kraken(xsb, "OHLC", pair="XXBTZUSD", interval=1440, since=since + 10**6).json()
    assert len(future["result"]["XXBTZUSD"]) == 1
    unknown = kraken(xsb, "OHLC", pair="NOPEUSD", interval=1440)
    assert unknown.status_code == 200 and unknown.json() == {"error": ["EQuery:Unknown asset pair"]}


def test_kraken_assets_cover_every_pair_and_the_legacy_names(xsb: ExchangeSandbox) -> None:
    assets = kraken(xsb, "Assets").json()["result"]
    pairs = kraken(xsb, "AssetPairs").json()["result"]
    for pair in pairs.values():
        assert pair["base"] in assets and pair["quote"] in assets
        assert {"altname", "lot_decimals", "pair_decimals", "status"} <= set(pair)
    assert all("decimals" in a for a in assets.values())
    assert pairs["XXBTZUSD"]["altname"] == "XBTUSD" and assets["XXBT"]["altname"] == "XBT"
    assert pairs["XDGUSD"]["base"] == "XXDG" and "BNBUSD" not in pairs


def test_closed_days_are_deterministic_and_skew_shifts_one_exchange() -> None:
    args = {"symbol": "ETHUSDT", "interval": "1d", "startTime": ms(date(2024, 1, 1)), "limit": 50}
    with ExchangeSandbox(port=0, coins=25) as a, ExchangeSandbox(port=0, coins=25) as b:
        first = binance(a, "klines", **args).json()
        assert first == binance(b, "klines", **args).json()
        plain = kraken(a, "OHLC", pair="XETHZUSD", interval=1440).json()["result"]["XETHZUSD"]
        httpx.post(f"http://127.0.0.1:{a.port}/__admin/skew", json={"kraken": 10})
        assert httpx.get(f"http://127.0.0.1:{a.port}/__admin/skew").json() == {"kraken": 10.0}
        skewed = kraken(a, "OHLC", pair="XETHZUSD", interval=1440).json()["result"]["XETHZUSD"]
        assert binance(a, "klines", **args).json() == first  # Binance untouched
    for p, s in zip(plain[:-1], skewed[:-1], strict=True):
        assert abs(float(s[5]) / float(p[5]) - 1.10) < 0.001  # VWAP up 10%
        assert s[6] == p[6]  # volumes unchanged


def test_counters_per_exchange_and_admin_routes(xsb: ExchangeSandbox) -> None:
    binance(xsb, "time")
    kraken(xsb, "Time")
    kraken(xsb, "Assets")
    base = f"http://127.0.0.1:{xsb.port}/__admin"
    assert httpx.get(f"{base}/health").json()["ok"]
    stats = httpx.get(f"{base}/stats").json()
    assert stats["binance"] == {"requests": 1, "weight": 1, "by_route": {"time": 1}}
    assert stats["kraken"]["by_route"] == {"Time": 1, "Assets": 1}
    bad = httpx.post(f"{base}/faults", json={"rules": [{"kind": "explode"}]})
    assert bad.status_code == 400 and "unknown fault kind" in bad.json()["error"]
    httpx.post(f"{base}/reset")
    assert httpx.get(f"{base}/stats").json()["kraken"]["requests"] == 0


def test_console_command_serves_until_stopped() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "criptopipe.sources.exchanges.sandbox", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "SYNTHETIC" in line and f":{port}/binance" in line and f":{port}/kraken" in line
        assert httpx.get(f"http://127.0.0.1:{port}/kraken/0/public/Time").json()["error"] == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    time.sleep(0.1)
    assert proc.returncode == 0


def test_listings_are_consistent_with_the_coincap_universe(xsb: ExchangeSandbox) -> None:
    catalogue = xsb.market.catalogue()
    coins = xsb.universe.by_id
    for pairs in catalogue.pairs.values():
        for pair in pairs:
            assert pair.listed >= coins[pair.coin].listed  # no candle before CoinCap's history
    for pair in catalogue.pairs["binance"]:
        if pair.quote == "USDT":
            assert pair.base == coins[pair.coin].symbol  # CoinCap's symbols
    # the first candle Binance has is the listing day (python-binance's startTime=0 probe)
    first = binance(xsb, "klines", symbol="SOLUSDT", interval="1d", startTime=0, limit=1).json()
    assert first[0][0] == ms(date(2020, 8, 11))
