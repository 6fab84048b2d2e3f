"""One price truth per coin per day, from CoinCap's d1 average and the exchanges' candles.

Pure: frames of `asset_history` and `exchange_candles` in, `daily_prices` rows out. For each
(coin, day) the inputs are CoinCap's d1 price (a 24-hour average across venues) and, per
exchange, the day's close and VWAP (quote volume / base volume). Their agreement is judged on
like with like: CoinCap's average against each exchange's VWAP, which is the exchange's own
24-hour average. A close is the last trade of the day and may sit several percent from any
average on a day that moved, so closes are kept beside (with their distance from the median)
but not judged. Exchange prices quoted in a dollar stablecoin (USDT, USDC, ...) count as USD
(the quote is recorded); other quotes (BTC, EUR) are left out and reported, never converted.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd

from criptopipe.storage.slices import as_date
from criptopipe.transform.frames import as_utc

#: quotes worth one US dollar for this comparison (the quote is recorded beside every price)
USD_QUOTES = frozenset({"USD", "USDT", "USDC", "BUSD", "DAI", "FDUSD", "TUSD", "USDP"})
REQUEST_PATH = "derived: asset_history + exchange_candles"
PCT = Decimal("0.000001")

Row = dict[str, Any]


def _text(value: Any) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


@dataclass
class PriceInputs:
    """What went into one (coin, day): the archive's `record` of a `daily_prices` row."""

    coincap_d1: str | None = None
    #: source label -> {"symbol", "quote", "close", "vwap"} (exact decimal strings)
    exchanges: dict[str, dict[str, str | None]] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        return {"coincap_d1": self.coincap_d1, "exchanges": self.exchanges}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> PriceInputs:
        return cls(record.get("coincap_d1"), {k: dict(v) for k, v in record["exchanges"].items()})

    def compared(self) -> list[tuple[str, Decimal]]:
        """The averages judged against each other: CoinCap's d1 and each exchange's VWAP."""
        out = []
        if self.coincap_d1 is not None:
            out.append(("coincap d1", Decimal(self.coincap_d1)))
        for label, ex in sorted(self.exchanges.items()):
            if ex.get("vwap") is not None:
                out.append((f"{label} vwap", Decimal(str(ex["vwap"]))))
        return out


def _pct(value: Decimal, median: Decimal) -> Decimal:
    return ((value - median) / median * 100).quantize(PCT)


def price_row(coin: str, day: date, inputs: PriceInputs, computed_at: datetime) -> Row | None:
    """The `daily_prices` row of one (coin, day), or None when nothing can be compared."""
    prices = inputs.compared()
    if not prices:
        return None
    median = statistics.median(v for _, v in prices)
    values = [v for _, v in prices]
    spread = ((max(values) - min(values)) / median * 100).quantize(PCT) if median else Decimal(0)
    outlier, outlier_pct = None, None
    if len(prices) > 1 and median:
        label, value = max(prices, key=lambda p: abs(p[1] - median))
        outlier, outlier_pct = label, _pct(value, median)
    shown = {label: dict(ex) for label, ex in inputs.exchanges.items()}
    for ex in shown.values():
        if ex.get("close") is not None and median:
            ex["close_vs_median_pct"] = str(_pct(Decimal(str(ex["close"])), median))
    return {
        "coin_id": coin,
        "day": day,
        "coincap_usd": Decimal(inputs.coincap_d1) if inputs.coincap_d1 is not None else None,
        "median_usd": median,
        "spread_pct": spread,
        "sources": len(prices),
        "outlier": outlier,
        "outlier_pct": outlier_pct,
        "prices": json.dumps({"coincap_d1": inputs.coincap_d1, "exchanges": shown}, sort_keys=True),
        "fetched_at": computed_at,
        "record": inputs.as_record(),
        "request_path": REQUEST_PATH,
    }


@dataclass
class PriceRows:
    rows: list[Row]
    #: pairs left out because their quote is not a dollar ("binance:ETH/BTC")
    skipped_quotes: list[str]


def _vwap(quote_volume: Any, base_volume: Any) -> str | None:
    if _text(quote_volume) is None or _text(base_volume) is None:
        return None
    base = Decimal(str(base_volume))
    return str(Decimal(str(quote_volume)) / base) if base > 0 else None


def daily_prices(history: pd.DataFrame, candles: pd.DataFrame, computed_at: datetime) -> PriceRows:
    """Rows per (coin, day) from the two frames as the stores hold them (either may be empty)."""
    inputs: dict[tuple[str, date], PriceInputs] = {}
    for coin, day, price in _columns(history, "coin_id", "day", "price_usd"):
        inputs.setdefault((str(coin), as_date(day)), PriceInputs()).coincap_d1 = _text(price)
    skipped: set[str] = set()
    per_exchange: dict[tuple[str, date, str], list[dict[str, Any]]] = {}
    for row in _records(candles):
        if str(row["quote"]).upper() not in USD_QUOTES:
            skipped.add(str(row["pair"]))
            continue
        key = (str(row["coin_id"]), as_date(row["day"]), str(row["exchange"]))
        per_exchange.setdefault(key, []).append(row)
    for (coin, day, exchange), rows in sorted(per_exchange.items()):
        for row in sorted(rows, key=lambda r: str(r["symbol"])):
            # two pairs of one coin on one exchange (a remapped quote): both, told apart
            label = exchange if len(rows) == 1 else f"{exchange} {row['symbol']}"
            inputs.setdefault((coin, day), PriceInputs()).exchanges[label] = {
                "symbol": str(row["symbol"]),
                "quote": str(row["quote"]),
                "close": _text(row["close"]),
                "vwap": _vwap(row["quote_volume"], row["base_volume"]),
            }
    out = []
    for (coin, day), item in sorted(inputs.items()):
        priced = price_row(coin, day, item, computed_at)
        if priced is not None:
            out.append(priced)
    return PriceRows(out, sorted(skipped))


def rows_from_documents(docs: Iterable[Mapping[str, Any]]) -> list[Row]:
    """Archived inputs -> the same rows, recomputed (no other dataset is read)."""
    out = []
    for d in docs:
        row = price_row(
            str(d["coin_id"]),
            as_date(d["day"]),
            PriceInputs.from_record(d["record"]),
            as_utc(d["fetched_at"]),
        )
        if row is not None:
            out.append(row)
    return out


def _columns(frame: pd.DataFrame, *names: str) -> Iterable[tuple[Any, ...]]:
    if frame.empty:
        return []
    return frame[list(names)].itertuples(index=False, name=None)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return (
        [] if frame.empty else [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]
    )
