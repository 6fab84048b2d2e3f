"""The CoinCap v3 client: one method per route, models out. No Dagster here.

async with CoinCapClient(ClientSettings(api_key=...)) as client:
    assets = await client.list_assets(limit=100)
    points = await client.history("bitcoin", start=..., end=...)
    client.meter.snapshot()   # calls, bytes, credits so far
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

from criptopipe.sources.coincap.errors import MalformedResponseError
from criptopipe.sources.coincap.models import (
    Asset,
    CoinCapModel,
    Exchange,
    HistoryPoint,
    Market,
    Rate,
)
from criptopipe.sources.coincap.pagination import paginate
from criptopipe.sources.coincap.settings import ClientSettings
from criptopipe.sources.coincap.transport import Meter, Transport

M = TypeVar("M", bound=CoinCapModel)
INTERVALS = ("m1", "m5", "m15", "m30", "h1", "h2", "h6", "h12", "d1")
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
IDS_PER_REQUEST = 100  # keeps URLs short; each group is one call


def _slug(slug: str) -> str:
    if not _SLUG.match(slug or ""):
        raise ValueError(f"not a CoinCap id: {slug!r} (ids look like 'bitcoin', 'usd-coin')")
    return quote(slug, safe="")


def _ms(when: datetime) -> int:
    if when.tzinfo is None:
        raise ValueError(f"{when!r} has no time zone: pass an aware UTC datetime")
    return int(when.astimezone(timezone.utc).timestamp() * 1000)


def _envelope(body: Any, source: str) -> Any:
    if not isinstance(body, dict) or "data" not in body:
        raise MalformedResponseError(source, "data", body, "expected {'data': ..., 'timestamp'}")
    return body["data"]


def _list_of(model: type[M]) -> Any:
    def parse(body: Any, source: str) -> list[M]:
        data = _envelope(body, source)
        if not isinstance(data, list):
            raise MalformedResponseError(
                source, "data", data, "a list route must answer a list (never read as zero rows)"
            )
        return [model.from_record(r, source, route=source) for r in data]

    return parse


def _one_of(model: type[M]) -> Any:
    def parse(body: Any, source: str) -> M:
        data = _envelope(body, source)
        if not isinstance(data, dict):
            raise MalformedResponseError(source, "data", data, "expected one object")
        return model.from_record(data, source, route=source)

    return parse


class CoinCapClient:
    def __init__(self, settings: ClientSettings | None = None) -> None:
        self.settings = settings or ClientSettings()
        self._transport = Transport(self.settings)

    def __repr__(self) -> str:
        return f"CoinCapClient({self._transport!r})"

    @property
    def meter(self) -> Meter:
        return self._transport.meter

    async def __aenter__(self) -> CoinCapClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def _pages(
        self, path: str, params: dict[str, Any], model: type[M], limit: int | None
    ) -> list[M]:
        async def fetch(want: int, offset: int) -> list[M]:
            return await self._transport.get(
                path, {**params, "limit": want, "offset": offset}, _list_of(model)
            )

        return await paginate(fetch, self.settings.page_size, limit)

    async def list_assets(
        self,
        ids: Sequence[str] | None = None,
        search: str | None = None,
        limit: int | None = None,
    ) -> list[Asset]:
        """Assets by rank: all of them (limit None), the first `limit`, or the given ids."""
        if ids:
            for slug in ids:
                _slug(slug)  # refuse anything that is not a slug before any call
            wanted = list(dict.fromkeys(ids))
            found: list[Asset] = []
            for i in range(0, len(wanted), IDS_PER_REQUEST):
                group = wanted[i : i + IDS_PER_REQUEST]
                found.extend(
                    await self._transport.get(
                        "/assets",
                        {"ids": ",".join(group), "limit": len(group), "search": search},
                        _list_of(Asset),
                    )
                )
            return found
        params: dict[str, Any] = {"search": search} if search else {}
        return await self._pages("/assets", params, Asset, limit)

    async def get_asset(self, slug: str) -> Asset:
        return await self._transport.get(f"/assets/{_slug(slug)}", None, _one_of(Asset), slug=slug)

    async def history(
        self,
        slug: str,
        interval: str = "d1",
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[HistoryPoint]:
        """Points of [start, end), in requests spanning at most `history_span_days` each
        (CoinCap documents no maximum), joined without duplicates at chunk borders."""
        if interval not in INTERVALS:
            raise ValueError(f"interval must be one of {', '.join(INTERVALS)}, got {interval!r}")
        path = f"/assets/{_slug(slug)}/history"
        if start is None and end is None:
            return await self._transport.get(
                path, {"interval": interval}, _list_of(HistoryPoint), slug=slug
            )
        if start is None or end is None:
            raise ValueError("history needs both start and end, or neither")
        if end <= start:
            return []
        span = timedelta(days=self.settings.history_span_days)
        points: dict[int, HistoryPoint] = {}
        lo = start
        while lo < end:
            hi = min(lo + span, end)
            chunk = await self._transport.get(
                path,
                {"interval": interval, "start": _ms(lo), "end": _ms(hi)},
                _list_of(HistoryPoint),
                slug=slug,
            )
            for p in chunk:
                if _ms(start) <= p.time < _ms(end):
                    points.setdefault(p.time, p)
            lo = hi
        return [points[t] for t in sorted(points)]

    async def markets(self, slug: str, limit: int | None = None) -> list[Market]:
        """Markets of an asset (CoinCap lists them by volume), all pages or the first `limit`."""
        return await self._pages(f"/assets/{_slug(slug)}/markets", {}, Market, limit)

    async def rates(self) -> list[Rate]:
        return await self._transport.get("/rates", None, _list_of(Rate))

    async def exchanges(self) -> list[Exchange]:
        return await self._pages("/exchanges", {}, Exchange, None)
