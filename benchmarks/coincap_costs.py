"""What common CoinCap calls cost, from the sandbox's own counter (v3's credit formula).

python benchmarks/coincap_costs.py
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from pydantic import SecretStr

from criptopipe.sources.coincap import ClientSettings, CoinCapClient
from criptopipe.sources.coincap.sandbox import SandboxServer


async def _measure(sb: SandboxServer) -> list[tuple[str, int, int, int]]:
    rows = []
    settings = ClientSettings(base_url=sb.base_url, api_key=SecretStr("bench"))
    async with CoinCapClient(settings) as client:
        sb.reset()
        assets = await client.list_assets(limit=2000)
        s = sb.stats()
        rows.append((f"list {len(assets):,} assets", s["calls"], s["bytes"], s["credits"]))
        sb.reset()
        points = await client.history(
            "bitcoin",
            start=datetime(2024, 1, 1, tzinfo=timezone.utc),
            end=datetime(2024, 12, 31, tzinfo=timezone.utc),
        )
        s = sb.stats()
        rows.append((f"{len(points)} daily points, one coin", s["calls"], s["bytes"], s["credits"]))
        sb.reset()
        markets = await client.markets("bitcoin", limit=50)
        s = sb.stats()
        rows.append((f"{len(markets)} markets, one coin", s["calls"], s["bytes"], s["credits"]))
    return rows


def main() -> int:
    with SandboxServer(port=0, key="bench", coins=2500) as sb:
        rows = asyncio.run(_measure(sb))
    print(f"{'call':<34} {'calls':>6} {'bytes':>10} {'credits':>8}")
    for name, calls, size, credits in rows:
        print(f"{name:<34} {calls:>6} {size:>10,} {credits:>8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
