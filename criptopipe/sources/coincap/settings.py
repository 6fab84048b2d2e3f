"""Client settings: where CoinCap is, the key, and how hard to push it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

DEFAULT_BASE_URL = "https://rest.coincap.io/v3"
#: hosts that are CoinCap itself: a key is required there (the sandbox accepts none)
COINCAP_HOSTS = frozenset({"rest.coincap.io", "api.coincap.io", "pro-api.coincap.io"})


class ClientSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    base_url: str = DEFAULT_BASE_URL
    api_key: SecretStr | None = None
    calls_per_minute: int = Field(default=600, gt=0)
    max_in_flight: int = Field(default=8, gt=0)
    timeout_s: float = Field(default=30.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=6, ge=1)
    max_retry_seconds: float = Field(default=120.0, gt=0)
    #: a server that does not answer at all is tried this long per request, then the request
    #: fails as CoinCapUnreachableError (a step retries that only briefly)
    unreachable_retry_s: float = Field(default=5.0, ge=0)
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)
    history_span_days: int = Field(default=365, gt=0)
    page_size: int = Field(default=2000, gt=0, le=2000)

    @field_validator("base_url")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {value!r}")
        return value

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        if value is None:
            return None
        raw = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        return raw.strip() or None

    def key(self) -> str | None:
        return self.api_key.get_secret_value() if self.api_key is not None else None
