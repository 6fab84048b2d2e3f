"""Pure functions from CoinCap models to frames with a dataset's columns, and back from the archive.

A frame carries the dataset's PostgreSQL columns (see `criptopipe.storage.datasets`) plus the two
raw-archive columns `record` (CoinCap's record exactly as sent) and `request_path` (no key). Both
stores are written from the same frame, so PostgreSQL and MongoDB can never disagree on keys.

Rebuilding from the archive (`frame_from_documents`) parses the stored records through the same
models the live path uses, so a replayed table equals the original load to the last decimal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any

import pandas as pd

from criptopipe.sources.coincap.models import Asset, HistoryPoint, Market
from criptopipe.storage.datasets import ASSET_HISTORY, MARKET_SNAPSHOTS, RAW_ASSETS, Dataset

ARCHIVE_COLUMNS = ("record", "request_path")


def frame_columns(ds: Dataset) -> list[str]:
    return [*ds.column_names, *ARCHIVE_COLUMNS]


def empty_frame(ds: Dataset) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in frame_columns(ds)})


def _frame(ds: Dataset, rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return empty_frame(ds)
    # object dtype everywhere: Decimals, dates and dicts must reach the stores untouched
    return pd.DataFrame.from_records(rows, columns=frame_columns(ds)).astype(object)


def fetch_time() -> datetime:
    """Now, in UTC, to the millisecond: the precision BSON keeps, so a table rebuilt from the
    MongoDB archive carries exactly the `fetched_at` of the original load."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def utc_day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).date()


def _asset_row(a: Asset, snapshot_date: date, fetched_at: datetime) -> dict[str, Any]:
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


def raw_assets_frame(
    assets: Sequence[Asset], snapshot_date: date, fetched_at: datetime
) -> pd.DataFrame:
    return _frame(RAW_ASSETS, [_asset_row(a, snapshot_date, fetched_at) for a in assets])


def _history_row(coin: str, p: HistoryPoint, fetched_at: datetime) -> dict[str, Any]:
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


def history_frame(
    series: Mapping[str, Sequence[HistoryPoint]], fetched_at: datetime
) -> pd.DataFrame:
    """One row per (coin, day); a day CoinCap sent twice (chunk borders) is kept once."""
    rows: dict[tuple[str, date], dict[str, Any]] = {}
    for coin, points in series.items():
        for p in points:
            row = _history_row(coin, p, fetched_at)
            rows[(coin, row["day"])] = row
    return _frame(ASSET_HISTORY, [rows[k] for k in sorted(rows)])


def _market_row(coin: str, m: Market, snapshot_date: date, fetched_at: datetime) -> dict[str, Any]:
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


def markets_frame(
    markets: Mapping[str, Sequence[Market]], snapshot_date: date, fetched_at: datetime
) -> pd.DataFrame:
    """One row per market; CoinCap listing the same market twice keeps the first (top volume)."""
    rows: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for coin, listed in markets.items():
        for m in listed:
            key = (coin, m.exchange_id, m.base_id, m.quote_id)
            rows.setdefault(key, _market_row(coin, m, snapshot_date, fetched_at))
    return _frame(MARKET_SNAPSHOTS, list(rows.values()))


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _as_utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
    return datetime.fromisoformat(str(value))


def frame_from_documents(ds: Dataset, docs: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Rebuild a dataset's frame from archived MongoDB documents, with no API call."""
    rows: list[dict[str, Any]] = []
    for doc in docs:
        record = dict(doc["record"])
        fetched_at = _as_utc(doc["fetched_at"])
        path = str(doc.get("request_path") or "")
        day = _as_date(doc[ds.partition_column])
        if ds is RAW_ASSETS:
            rows.append(_asset_row(Asset.from_record(record, path), day, fetched_at))
        elif ds is ASSET_HISTORY:
            point = HistoryPoint.from_record(record, path)
            rows.append(_history_row(str(doc["coin_id"]), point, fetched_at))
        elif ds is MARKET_SNAPSHOTS:
            market = Market.from_record(record, path)
            rows.append(_market_row(str(doc["coin_id"]), market, day, fetched_at))
        else:  # pragma: no cover - the three datasets are exhaustive
            raise ValueError(f"no archive rebuild for dataset {ds.name}")
    return _frame(ds, rows)
