"""The sandbox speaks CoinCap v3 over real TCP: shapes, errors, paging, determinism, billing,
faults, and its console command."""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from criptopipe.local.ports import free_port
from criptopipe.sources.coincap.credits import credits_for
from criptopipe.sources.coincap.sandbox import SandboxServer
from criptopipe.sources.coincap.sandbox.server import http_date

KEY = "test"
AUTH = {"Authorization": f"Bearer {KEY}"}
# keys and types of the captured v3 bodies in ../shared/docs/coincap-v3.md
ASSET_KEYS = {
    "id",
    "rank",
    "symbol",
    "name",
    "supply",
    "maxSupply",
    "marketCapUsd",
    "volumeUsd24Hr",
    "priceUsd",
    "changePercent24Hr",
    "vwap24Hr",
    "explorer",
    "tokens",
}
MARKET_KEYS = {
    "exchangeId",
    "baseId",
    "quoteId",
    "baseSymbol",
    "quoteSymbol",
    "volumeUsd24Hr",
    "priceUsd",
    "volumePercent",
}


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxServer]:
    with SandboxServer(port=0, key=KEY, coins=150) as server:
        yield server


@pytest.fixture(autouse=True)
def clean(sb: SandboxServer) -> None:
    sb.reset()
    sb.set_faults({})


def get(sb: SandboxServer, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{sb.base_url}{path}", params=params, headers=AUTH, timeout=10)


def ms(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp() * 1000)


def test_asset_list_has_v3_shape(sb: SandboxServer) -> None:
    body = get(sb, "/assets").json()
    assert set(body) == {"data", "timestamp"} and isinstance(body["timestamp"], int)
    assert len(body["data"]) == 100  # default page
    first = body["data"][0]
    assert set(first) == ASSET_KEYS
    assert first["id"] == "bitcoin" and first["rank"] == "1"
    assert first["name"].endswith("(synthetic)")
    assert len(first["priceUsd"].split(".")[1]) == 18  # v3's 18 decimals
    assert all(isinstance(a["tokens"], dict) for a in body["data"])
    assert any(a["maxSupply"] is None for a in body["data"])
    assert all(a["explorer"] is None or "example.invalid" in a["explorer"] for a in body["data"])


def test_paging_and_ids(sb: SandboxServer) -> None:
    page = get(sb, "/assets", limit=50, offset=100).json()["data"]
    assert [a["rank"] for a in page] == [str(i) for i in range(101, 151)]
    assert get(sb, "/assets", limit=50, offset=150).json()["data"] == []
    picked = get(sb, "/assets", ids="ethereum,solana").json()["data"]
    assert {a["id"] for a in picked} == {"ethereum", "solana"}


def test_history_window_shape_and_holes(sb: SandboxServer) -> None:
    body = get(
        sb,
        "/assets/bitcoin/history",
        interval="d1",
        start=ms(date(2024, 1, 1)),
        end=ms(date(2024, 1, 11)),
    ).json()
    points = body["data"]
    assert [p["date"][:10] for p in points] == [f"2024-01-{d:02d}" for d in range(1, 11)]
    assert set(points[0]) == {"priceUsd", "time", "date", "circulatingSupply"}
    assert points[0]["time"] == ms(date(2024, 1, 1))
    # some coins have whole days missing, like CoinCap
    holes = [c.id for c in sb.universe.coins if c.hole_rate > 0]
    assert holes
    year = get(
        sb,
        f"/assets/{holes[0]}/history",
        interval="d1",
        start=ms(date(2023, 1, 1)),
        end=ms(date(2024, 1, 1)),
    ).json()["data"]
    assert 0 < len(year) < 365


def test_markets_shape(sb: SandboxServer) -> None:
    markets = get(sb, "/assets/bitcoin/markets", limit=2000).json()["data"]
    assert len(markets) >= 150
    assert set(markets[0]) == MARKET_KEYS
    volumes = [float(m["volumeUsd24Hr"]) for m in markets]
    assert volumes == sorted(volumes, reverse=True)
    assert sum(float(m["volumePercent"]) for m in markets) == pytest.approx(100, abs=0.01)


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/assets", {"limit": 2001}, 400, "limit exceeds 2000"),
        ("/assets/bitcoin/history", {}, 400, "missing interval"),
        ("/assets/bitcoin/history", {"interval": "d2"}, 400, "use valid interval"),
        ("/assets/bitcoin/history", {"interval": "d1", "start": 1}, 400, "query requires end"),
        ("/assets/bitcoin/history", {"interval": "d1", "end": 1}, 400, "query requires start"),
        ("/assets/no-such-coin", {}, 404, "no-such-coin not found"),
    ],
)
def test_errors(sb: SandboxServer, path: str, params: dict, status: int, message: str) -> None:  # type: ignore[type-arg]
    resp = get(sb, path, **params)
    assert resp.status_code == status
    assert message in resp.json()["error"]


def test_key_by_header_or_query_and_401_without(sb: SandboxServer) -> None:
    assert httpx.get(f"{sb.base_url}/assets/bitcoin", timeout=5).status_code == 401
    wrong = httpx.get(f"{sb.base_url}/assets/bitcoin", headers={"Authorization": "Bearer x"})
    assert wrong.status_code == 401 and "valid API key" in wrong.json()["error"]
    assert httpx.get(f"{sb.base_url}/assets/bitcoin", params={"apiKey": KEY}).status_code == 200
    assert all("apiKey=***" in r["path"] for r in sb.stats()["requests"] if "apiKey" in r["path"])


def test_deterministic_for_a_seed() -> None:
    """Same seed, same bytes (bar the envelope's timestamp); another seed, other prices."""

    def strip(raw: bytes) -> bytes:
        return re.sub(rb'"timestamp":\d+', b"", raw)

    with (
        SandboxServer(port=0, key=KEY, coins=40, seed=7) as a,
        SandboxServer(port=0, key=KEY, coins=40, seed=7) as b,
        SandboxServer(port=0, key=KEY, coins=40, seed=8) as c,
    ):
        routes: list[tuple[str, dict[str, Any]]] = [
            ("/assets", {"limit": 40}),
            ("/assets/ethereum/markets", {}),
            (
                "/assets/solana/history",
                {"interval": "d1", "start": ms(date(2022, 1, 1)), "end": ms(date(2023, 1, 1))},
            ),
        ]
        for path, params in routes:
            raw = strip(get(a, path, **params).content)
            assert raw == strip(get(b, path, **params).content)
            assert raw != strip(get(c, path, **params).content)


def test_every_call_is_billed_with_v3s_formula(sb: SandboxServer) -> None:
    sizes = []
    for path, params in [
        ("/assets", {"limit": 2000}),
        ("/assets/bitcoin", {}),
        ("/assets/nope", {}),
    ]:
        resp = httpx.get(
            f"{sb.base_url}{path}", params=params, headers={**AUTH, "Accept-Encoding": "identity"}
        )
        sizes.append(len(resp.content))
    stats = sb.stats()
    assert stats["calls"] == 3
    assert [r["bytes"] for r in stats["requests"]] == sizes
    assert stats["credits"] == sum(credits_for(n) for n in sizes)
    httpx.post(f"{sb.base_url.rsplit('/v3', 1)[0]}/__admin/reset")
    assert sb.stats()["calls"] == 0


def test_gzip_is_served_and_billed_uncompressed(sb: SandboxServer) -> None:
    resp = get(sb, "/assets", limit=500)
    assert resp.headers.get("content-encoding") == "gzip"
    assert sb.stats()["requests"][0]["bytes"] == len(resp.content)


def test_faults_over_the_admin_route(sb: SandboxServer) -> None:
    admin = sb.base_url.rsplit("/v3", 1)[0] + "/__admin/faults"
    httpx.post(
        admin,
        json={
            "rules": [
                {"kind": "status", "status": 429, "retry_after": "2", "times": 1},
                {"kind": "malformed", "times": 1, "path": "markets"},
            ]
        },
    )
    first = get(sb, "/assets/bitcoin")
    assert first.status_code == 429 and first.headers["retry-after"] == "2"
    assert get(sb, "/assets/bitcoin").status_code == 200
    broken = get(sb, "/assets/bitcoin/markets")
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.content)
    assert httpx.get(admin).json()["rules"][0]["times"] == 0


def test_truncate_and_disconnect_break_the_response(sb: SandboxServer) -> None:
    sb.set_faults({"rules": [{"kind": "truncate", "times": 1}]})
    with pytest.raises(httpx.HTTPError):
        get(sb, "/assets", limit=300)
    sb.set_faults({"rules": [{"kind": "disconnect", "times": 1}]})
    with pytest.raises(httpx.HTTPError):
        get(sb, "/assets")
    assert get(sb, "/assets").status_code == 200


def test_rate_limit_answers_429_with_retry_after(sb: SandboxServer) -> None:
    sb.set_faults({"rate_limit_per_minute": 5})
    statuses = [get(sb, "/assets/bitcoin").status_code for _ in range(7)]
    assert statuses == [200] * 5 + [429, 429]
    assert int(get(sb, "/assets/bitcoin").headers["retry-after"]) >= 1


def test_console_command_serves_until_stopped() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "criptopipe.sources.coincap.sandbox",
            "--port",
            str(port),
            "--key",
            "k",
            "--coins",
            "30",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "SYNTHETIC" in line and f":{port}/v3" in line
        resp = httpx.get(
            f"http://127.0.0.1:{port}/v3/assets", headers={"Authorization": "Bearer k"}
        )
        assert len(resp.json()["data"]) == 30
        assert httpx.get(f"http://127.0.0.1:{port}/__admin/health").json()["ok"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    time.sleep(0.1)
    assert proc.returncode == 0


def test_ranks_follow_market_cap_and_page_past_2000() -> None:
    with SandboxServer(port=0, key=KEY, coins=2500) as big:
        first = get(big, "/assets", limit=2000).json()["data"]
        rest = get(big, "/assets", limit=2000, offset=2000).json()["data"]
    assert (len(first), len(rest)) == (2000, 500)
    assets = first + rest
    assert [a["rank"] for a in assets] == [str(i) for i in range(1, 2501)]
    caps = [float(a["marketCapUsd"]) for a in assets]
    assert caps == sorted(caps, reverse=True)
    assert [a["id"] for a in assets] == big.universe.ids
    assert assets[0]["id"] == "bitcoin"
    assert {a["id"] for a in assets[:10]} <= {r for r in big.universe.ids if "synth" not in r}
    assert any(a["id"].startswith("synth-coin-") for a in assets)


def test_history_spans_listing_to_yesterday_and_matches_the_universe(sb: SandboxServer) -> None:
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    points = get(
        sb,
        "/assets/bitcoin/history",
        interval="d1",
        start=ms(date(2013, 1, 1)),
        end=ms(yesterday + timedelta(days=5)),
    ).json()["data"]
    assert points[0]["date"] == "2013-04-28T00:00:00.000Z"
    assert points[-1]["time"] == ms(yesterday)  # today is not closed yet
    assert all(p["time"] % 86_400_000 == 0 for p in points)
    holed = next(c.id for c in sb.universe.coins if c.hole_rate > 0)
    window = {"interval": "d1", "start": ms(date(2020, 1, 1)), "end": ms(date(2024, 1, 1))}
    served = get(sb, f"/assets/{holed}/history", **window).json()["data"]
    assert served == sb.universe.history_for(holed, date(2020, 1, 1), date(2023, 12, 31))
    days = [p["time"] // 86_400_000 for p in served]
    assert any(b - a > 1 for a, b in zip(days, days[1:], strict=False))  # whole days missing


def test_intraday_intervals_and_other_routes(sb: SandboxServer) -> None:
    end = ms(date(2024, 3, 2))
    hourly = get(sb, "/assets/ethereum/history", interval="h1", start=end - 86_400_000, end=end)
    assert [p["time"] for p in hourly.json()["data"]] == list(
        range(end - 86_400_000, end, 3_600_000)
    )
    rates = get(sb, "/rates").json()["data"]
    assert {"id", "symbol", "currencySymbol", "type", "rateUsd"} == set(rates[0])
    assert get(sb, "/rates/bitcoin").json()["data"]["symbol"] == "BTC"
    exchanges = get(sb, "/exchanges").json()["data"]
    assert get(sb, f"/exchanges/{exchanges[0]['exchangeId']}").json()["data"]["rank"] == "1"
    assert get(sb, "/assets/nope/markets").status_code == 404


def test_billing_covers_every_route(sb: SandboxServer) -> None:
    window = {"interval": "d1", "start": ms(date(2023, 1, 1)), "end": ms(date(2024, 1, 1))}
    resps = [
        get(sb, "/assets/bitcoin/history", **window),
        get(sb, "/assets/bitcoin/markets", limit=200),
        get(sb, "/assets", limit=7),
        httpx.get(f"{sb.base_url}/assets"),  # 401: answered, so billed
    ]
    log = sb.stats()["requests"]
    assert [r["status"] for r in log] == [200, 200, 200, 401]
    assert [r["credits"] for r in log] == [credits_for(len(r.content)) for r in resps]
    assert log[0]["credits"] > 20  # a year of d1 points is ~55 kB


def test_no_key_required_when_started_without_one() -> None:
    with SandboxServer(port=0, key=None, coins=20) as open_sb:
        assert httpx.get(f"{open_sb.base_url}/assets/bitcoin").status_code == 200


def test_hang_drop_and_extra_fields(sb: SandboxServer) -> None:
    sb.set_faults({"rules": [{"kind": "hang", "seconds": 1, "times": 1}]})
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{sb.base_url}/assets/bitcoin", headers=AUTH, timeout=0.2)
    deadline = time.monotonic() + 10
    while sb.stats()["calls"] == 0 and time.monotonic() < deadline:  # the hung call ends
        time.sleep(0.05)
    assert sb.stats()["requests"][0]["status"] == 200
    sb.set_faults(
        {
            "rules": [
                {"kind": "drop_field", "field": "priceUsd", "times": 1},
                {"kind": "extra_field", "field": "newField", "value": "x", "times": None},
            ]
        }
    )
    dropped = get(sb, "/assets", limit=3).json()["data"]
    assert all("priceUsd" not in a and a["newField"] == "x" for a in dropped)
    again = get(sb, "/assets/bitcoin").json()["data"]
    assert "priceUsd" in again and again["newField"] == "x"  # times: null is forever
    assert get(sb, "/assets/ethereum").json()["data"]["newField"] == "x"


def test_empty_rule_answers_200_with_no_rows_on_matching_paths(sb: SandboxServer) -> None:
    sb.set_faults({"rules": [{"kind": "empty", "path": "/assets/ethereum", "times": None}]})
    emptied = get(sb, "/assets/ethereum/history", interval="d1")
    assert emptied.status_code == 200 and emptied.json()["data"] == []
    assert get(sb, "/assets/ethereum/markets").json()["data"] == []
    assert get(sb, "/assets/ethereum").json()["data"] is None  # an object route: null
    assert len(get(sb, "/assets/bitcoin/history", interval="d1").json()["data"]) > 300


def test_status_rules_narrowed_by_path_with_http_date(sb: SandboxServer) -> None:
    when = http_date(30)
    sb.set_faults(
        {
            "rules": [
                {
                    "kind": "status",
                    "status": 503,
                    "retry_after": when,
                    "times": 2,
                    "path": "/history",
                },
                {"kind": "status", "status": 502, "times": 1, "path": "markets$"},
            ]
        }
    )
    assert get(sb, "/assets/bitcoin").status_code == 200
    hist = get(sb, "/assets/bitcoin/history", interval="d1")
    assert hist.status_code == 503 and hist.headers["retry-after"] == when
    assert get(sb, "/assets/bitcoin/markets").status_code == 502
    assert get(sb, "/assets/bitcoin/markets").status_code == 200
    assert get(sb, "/assets/bitcoin/history", interval="d1").status_code == 503
    assert get(sb, "/assets/bitcoin/history", interval="d1").status_code == 200
    assert [r["status"] for r in sb.stats()["requests"]] == [200, 503, 502, 200, 503, 200]


def test_faults_and_rate_limit_from_the_constructor() -> None:
    faults = {"rules": [{"kind": "status", "status": 500, "times": 1}]}
    with SandboxServer(port=0, key=KEY, coins=20, rate_limit_per_minute=2, faults=faults) as s:
        statuses = [get(s, "/assets/bitcoin").status_code for _ in range(4)]
        assert statuses == [500, 200, 200, 429]
        too_many = get(s, "/assets/bitcoin")
        assert "2/minute" in too_many.json()["error"]
        assert 1 <= int(too_many.headers["retry-after"]) <= 60


def test_a_hundred_keep_alive_clients_at_once(sb: SandboxServer) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(100)
    tls = ssl.create_default_context()  # one, not 100 (plain HTTP; httpx builds one anyway)

    def client() -> None:
        try:
            with httpx.Client(headers=AUTH, timeout=30, verify=tls) as c:
                barrier.wait()
                for _ in range(3):
                    assert c.get(f"{sb.base_url}/assets/bitcoin").status_code == 200
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sb.stats()["calls"] == 300


def test_stop_frees_the_port_and_cuts_keep_alive_connections() -> None:
    server = SandboxServer(port=0, key=None, coins=10).start()
    port = server.port
    with httpx.Client(timeout=5) as c:
        assert c.get(f"{server.base_url}/assets").status_code == 200  # pooled connection
        server.stop()
        with pytest.raises(httpx.HTTPError):
            c.get(f"http://127.0.0.1:{port}/v3/assets")
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
