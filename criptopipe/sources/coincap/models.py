"""Pydantic v2 models at the API boundary.

CoinCap sends numbers as decimal strings (`"69704.779999999998835847"`): they become `Decimal`
exactly, never through a float. Nulls are accepted where CoinCap sends them, unknown fields are
kept (`extra="allow"`), and every model keeps the record exactly as sent (`.raw`) and the
request it came from (`.source_path`, never the key): the raw archive stores both.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError

from criptopipe.sources.coincap.errors import MalformedResponseError


def _decimal(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("a boolean is not a decimal number")
    if isinstance(value, float):
        value = repr(value)  # the shortest exact text of the float CoinCap sent
    if isinstance(value, (str, int)):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError("not a decimal number") from None
        if not number.is_finite():
            raise ValueError("not a finite number")
        return number
    raise ValueError(f"expected a decimal string, got {type(value).__name__}")


def _required_decimal(value: Any) -> Any:
    number = _decimal(value)
    if number is None:
        raise ValueError("required decimal is missing or null")
    return number


Dec = Annotated[Decimal | None, BeforeValidator(_decimal)]
RequiredDec = Annotated[Decimal, BeforeValidator(_required_decimal)]


class CoinCapModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)
    _source_path: str = PrivateAttr(default="")

    @property
    def raw(self) -> dict[str, Any]:
        """The record exactly as CoinCap sent it."""
        return self._raw

    @property
    def source_path(self) -> str:
        """Path and query of the request, relative to the base URL, without the key."""
        return self._source_path

    @classmethod
    def from_record(cls, record: Any, source_path: str, route: str | None = None) -> Self:
        where = route or source_path or cls.__name__
        if not isinstance(record, dict):
            raise MalformedResponseError(where, "data[]", record, "expected an object")
        try:
            model = cls.model_validate(record)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "?"
            raise MalformedResponseError(
                where, field, record.get(field, err.get("input")), err["msg"]
            ) from None
        model._raw = record
        model._source_path = source_path
        return model


class Asset(CoinCapModel):
    id: str
    rank: int | None = None
    symbol: str | None = None
    name: str | None = None
    supply: Dec = None
    max_supply: Dec = Field(default=None, alias="maxSupply")
    market_cap_usd: Dec = Field(default=None, alias="marketCapUsd")
    volume_usd_24hr: Dec = Field(default=None, alias="volumeUsd24Hr")
    price_usd: Dec = Field(default=None, alias="priceUsd")
    change_percent_24hr: Dec = Field(default=None, alias="changePercent24Hr")
    vwap_24hr: Dec = Field(default=None, alias="vwap24Hr")
    explorer: str | None = None
    tokens: dict[str, list[str]] | None = None


class HistoryPoint(CoinCapModel):
    price_usd: RequiredDec = Field(alias="priceUsd")
    time: int
    circulating_supply: Dec = Field(default=None, alias="circulatingSupply")
    date: str | None = None


class Market(CoinCapModel):
    exchange_id: str = Field(alias="exchangeId")
    base_id: str = Field(alias="baseId")
    quote_id: str = Field(alias="quoteId")
    base_symbol: str | None = Field(default=None, alias="baseSymbol")
    quote_symbol: str | None = Field(default=None, alias="quoteSymbol")
    volume_usd_24hr: Dec = Field(default=None, alias="volumeUsd24Hr")
    price_usd: Dec = Field(default=None, alias="priceUsd")
    volume_percent: Dec = Field(default=None, alias="volumePercent")


class Rate(CoinCapModel):
    id: str
    symbol: str | None = None
    currency_symbol: str | None = Field(default=None, alias="currencySymbol")
    type: str | None = None
    rate_usd: Dec = Field(default=None, alias="rateUsd")


class Exchange(CoinCapModel):
    exchange_id: str = Field(alias="exchangeId")
    name: str | None = None
    rank: int | None = None
    percent_total_volume: Dec = Field(default=None, alias="percentTotalVolume")
    volume_usd: Dec = Field(default=None, alias="volumeUsd")
    trading_pairs: int | None = Field(default=None, alias="tradingPairs")
    exchange_url: str | None = Field(default=None, alias="exchangeUrl")
    updated: int | None = None
