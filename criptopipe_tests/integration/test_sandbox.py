"""The sandbox speaks CoinCap v3 over real TCP: shapes, errors, paging, determinism, billing,
faults, and its console command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime, timezone

import httpx
import pytest

from criptopipe.coincap.credits import credits_for
from criptopipe.devservers import free_port
from criptopipe.sandbox import SandboxServer

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


def get(sb: SandboxServer, path: str, **params: object) -> httpx.Response:
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
    with (
        SandboxServer(port=0, key=KEY, coins=40, seed=7) as a,
        SandboxServer(port=0, key=KEY, coins=40, seed=7) as b,
    ):
        for path, params in [
            ("/assets", {"limit": 40}),
            ("/assets/ethereum/markets", {}),
            (
                "/assets/solana/history",
                {"interval": "d1", "start": ms(date(2022, 1, 1)), "end": ms(date(2023, 1, 1))},
            ),
        ]:
            assert get(a, path, **params).json()["data"] == get(b, path, **params).json()["data"]


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
            "criptopipe.sandbox",
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
