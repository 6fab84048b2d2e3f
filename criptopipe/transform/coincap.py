"""Rows of the CoinCap datasets: from the client's models, and again from the raw archive.

Pure functions returning row dicts (the registry in `criptopipe.datasets` turns them into
frames with the dataset's columns). Rebuilding from the archive parses the stored records
through the same models the live path uses, so a replayed table equals the original load to the
last decimal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any

from criptopipe.sources.coincap.models import Asset, HistoryPoint, Market
from criptopipe.storage.slices import as_date
from criptopipe.transform.frames import as_utc, utc_day

Row = dict[str, Any]


def asset_row(a: Asset, snapshot_date: date, fetched_at: datetime) -> Row:
    return {
        "snapshot_date": snapshot_date,
        "coin_id": a.id,
        "rank": a.rank,
        "symbol": a.symbol,
        "name": a.name,
        "supply": a.supply,
        "max_supply": a.max_supply,
        "market_cap_usd": a.market_cap_usd,
        "volume_usd_24hr": a.volume_usd_24hr,
        "price_usd": a.price_usd,
        "change_percent_24hr": a.change_percent_24hr,
        "vwap_24hr": a.vwap_24hr,
        "explorer": a.explorer,
        "tokens": json.dumps(a.tokens, sort_keys=True) if a.tokens is not None else None,
        "fetched_at": fetched_at,
        "record": a.raw,
        "request_path": a.source_path,
    }


def asset_rows(assets: Sequence[Asset], snapshot_date: date, fetched_at: datetime) -> list[Row]:
    return [asset_row(a, snapshot_date, fetched_at) for a in assets]


def history_row(coin: str, p: HistoryPoint, fetched_at: datetime) -> Row:
    return {
        "coin_id": coin,
        "day": utc_day(p.time),
        "price_usd": p.price_usd,
        "circulating_supply": p.circulating_supply,
        "time": datetime.fromtimestamp(p.time / 1000, tz=timezone.utc),
        "fetched_at": fetched_at,
        "record": p.raw,
        "request_path": p.source_path,
    }


def history_rows(series: Mapping[str, Sequence[HistoryPoint]], fetched_at: datetime) -> list[Row]:
    """One row per (coin, day); a day CoinCap sent twice (chunk borders) is kept once."""
    rows: dict[tuple[str, date], Row] = {}
    for coin, points in series.items():
        for p in points:
            row = history_row(coin, p, fetched_at)
            rows[(coin, row["day"])] = row
    return [rows[k] for k in sorted(rows)]


def market_row(coin: str, m: Market, snapshot_date: date, fetched_at: datetime) -> Row:
    return {
        "snapshot_date": snapshot_date,
        "coin_id": coin,
        "exchange_id": m.exchange_id,
        "base_id": m.base_id,
        "quote_id": m.quote_id,
        "base_symbol": m.base_symbol,
        "quote_symbol": m.quote_symbol,
        "volume_usd_24hr": m.volume_usd_24hr,
        "price_usd": m.price_usd,
        "volume_percent": m.volume_percent,
        "fetched_at": fetched_at,
        "record": m.raw,
        "request_path": m.source_path,
    }


def market_rows(
    markets: Mapping[str, Sequence[Market]], snapshot_date: date, fetched_at: datetime
) -> list[Row]:
    """One row per market; CoinCap listing the same market twice keeps the first (top volume)."""
    rows: dict[tuple[str, str, str, str], Row] = {}
    for coin, listed in markets.items():
        for m in listed:
            key = (coin, m.exchange_id, m.base_id, m.quote_id)
            rows.setdefault(key, market_row(coin, m, snapshot_date, fetched_at))
    return list(rows.values())


# --------------------------------------------------------------------------- from the archive


def _archived(doc: Mapping[str, Any]) -> tuple[dict[str, Any], datetime, str]:
    return dict(doc["record"]), as_utc(doc["fetched_at"]), str(doc.get("request_path") or "")


def asset_rows_from_documents(docs: Iterable[Mapping[str, Any]]) -> list[Row]:
    rows = []
    for doc in docs:
        record, fetched_at, path = _archived(doc)
        rows.append(
            asset_row(Asset.from_record(record, path), as_date(doc["snapshot_date"]), fetched_at)
        )
    return rows


def history_rows_from_documents(docs: Iterable[Mapping[str, Any]]) -> list[Row]:
    rows = []
    for doc in docs:
        record, fetched_at, path = _archived(doc)
        point = HistoryPoint.from_record(record, path)
        rows.append(history_row(str(doc["coin_id"]), point, fetched_at))
    return rows


def market_rows_from_documents(docs: Iterable[Mapping[str, Any]]) -> list[Row]:
    rows = []
    for doc in docs:
        record, fetched_at, path = _archived(doc)
        market = Market.from_record(record, path)
        day = as_date(doc["snapshot_date"])
        rows.append(market_row(str(doc["coin_id"]), market, day, fetched_at))
    return rows
