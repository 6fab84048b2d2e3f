"""CoinCap v3's credit formula: the one place it lives (the client meters with it, the sandbox
bills with it, the planner estimates with it)."""

from __future__ import annotations

BYTES_PER_CREDIT = 2500

#: bytes of one record in CoinCap's JSON body, from the captured v3 bodies (commas included)
HISTORY_POINT_BYTES = 144
ASSET_BYTES = 480
MARKET_BYTES = 215
#: `{"data":[...],"timestamp":1700000000000}` around the records
ENVELOPE_BYTES = 40


def credits_for(body_bytes: int) -> int:
    """Credits one call costs: 1 for the call plus 1 per started 2,500 bytes of response body."""
    if body_bytes < 0:
        raise ValueError(f"body size cannot be negative: {body_bytes}")
    return 1 + -(-body_bytes // BYTES_PER_CREDIT)
