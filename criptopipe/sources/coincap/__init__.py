"""Framework-free CoinCap v3 client (no Dagster): settings, transport, models, errors."""

from criptopipe.sources.coincap.client import CoinCapClient
from criptopipe.sources.coincap.credits import credits_for
from criptopipe.sources.coincap.errors import (
    AuthError,
    BadRequestError,
    CoinCapError,
    CoinCapTransportError,
    MalformedResponseError,
    MissingApiKeyError,
    NotFoundError,
    RetriesExhaustedError,
)
from criptopipe.sources.coincap.models import Asset, Exchange, HistoryPoint, Market, Rate
from criptopipe.sources.coincap.settings import ClientSettings
from criptopipe.sources.coincap.transport import MeterSnapshot

__all__ = [
    "Asset",
    "AuthError",
    "BadRequestError",
    "ClientSettings",
    "CoinCapClient",
    "CoinCapError",
    "CoinCapTransportError",
    "Exchange",
    "HistoryPoint",
    "MalformedResponseError",
    "Market",
    "MeterSnapshot",
    "MissingApiKeyError",
    "NotFoundError",
    "Rate",
    "RetriesExhaustedError",
    "credits_for",
]
