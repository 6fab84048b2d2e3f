"""Limit/offset paging as CoinCap v3 does it, separate from HTTP so it can be tested alone.

CoinCap sends no total count, so the only end-of-list signal is a page shorter than asked for.
A caller wanting the first N rows asks for exactly what it still needs on each page, which
makes the fewest calls: N <= page_size is one call, N = page_size + 1 is two.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

#: fetch(limit, offset) -> the rows of that page
FetchPage = Callable[[int, int], Awaitable[Sequence[T]]]


async def paginate(fetch: FetchPage[T], page_size: int, limit: int | None = None) -> list[T]:
    """Every row (limit None) or the first `limit` rows, stopping on a short page."""
    if page_size <= 0:
        raise ValueError(f"page_size must be positive, got {page_size}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    out: list[T] = []
    offset = 0
    while True:
        want = page_size if limit is None else min(page_size, limit - len(out))
        if want <= 0:
            return out
        rows = await fetch(want, offset)
        out.extend(rows)
        offset += len(rows)
        if len(rows) < want:
            return out
