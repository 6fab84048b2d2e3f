"""The local tooling's own variables: where `make run / dev / dashboard` listen.

Ports and hosts of the embedded PostgreSQL and MongoDB wire server, the CoinCap and exchange
sandboxes, the Dagster UI and the dashboard. The pipeline never reads these (it reads `criptopipe.config`);
`make dev CRIPTOPIPE_UI_PORT=3001` works because make passes command-line variables to its
commands' environment. A bad value fails in one line naming the variable, like config.py's.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from criptopipe.config import ConfigError

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class PortSetting:
    variable: str
    default: int
    what: str


PG = PortSetting("CRIPTOPIPE_PG_PORT", 55432, "the local PostgreSQL")
MONGO = PortSetting("CRIPTOPIPE_MONGO_PORT", 57017, "the local MongoDB wire server")
SANDBOX = PortSetting("CRIPTOPIPE_SANDBOX_PORT", 8555, "the CoinCap sandbox")
EXCHANGE_SANDBOX = PortSetting("CRIPTOPIPE_EXCHANGE_SANDBOX_PORT", 8556, "the exchange sandbox")
UI = PortSetting("CRIPTOPIPE_UI_PORT", 3000, "the Dagster UI")
DASHBOARD = PortSetting("CRIPTOPIPE_DASHBOARD_PORT", 8501, "the dashboard")
PORTS = (PG, MONGO, SANDBOX, EXCHANGE_SANDBOX, UI, DASHBOARD)


class LocalSettings(BaseSettings):
    """Field aliases are the variable names; None means the variable is unset (the default
    port is used, and a taken default falls back to a free port where that is harmless)."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", frozen=True)

    pg_port: int | None = Field(default=None, ge=1, le=65535, alias="CRIPTOPIPE_PG_PORT")
    mongo_port: int | None = Field(default=None, ge=1, le=65535, alias="CRIPTOPIPE_MONGO_PORT")
    sandbox_port: int | None = Field(default=None, ge=1, le=65535, alias="CRIPTOPIPE_SANDBOX_PORT")
    exchange_sandbox_port: int | None = Field(
        default=None, ge=1, le=65535, alias="CRIPTOPIPE_EXCHANGE_SANDBOX_PORT"
    )
    ui_port: int | None = Field(default=None, ge=1, le=65535, alias="CRIPTOPIPE_UI_PORT")
    dashboard_port: int | None = Field(
        default=None, ge=1, le=65535, alias="CRIPTOPIPE_DASHBOARD_PORT"
    )
    #: who may connect: 127.0.0.1 (this machine only) unless configured, e.g. 0.0.0.0
    ui_host: str = Field(default=LOOPBACK, min_length=1, alias="CRIPTOPIPE_UI_HOST")
    dashboard_host: str = Field(default=LOOPBACK, min_length=1, alias="CRIPTOPIPE_DASHBOARD_HOST")

    def port(self, setting: PortSetting) -> tuple[int, bool]:
        """(the port to use, whether the user chose it)."""
        chosen = getattr(self, _FIELDS[setting.variable])
        return (chosen, True) if chosen is not None else (setting.default, False)


_FIELDS = {
    PG.variable: "pg_port",
    MONGO.variable: "mongo_port",
    SANDBOX.variable: "sandbox_port",
    EXCHANGE_SANDBOX.variable: "exchange_sandbox_port",
    UI.variable: "ui_port",
    DASHBOARD.variable: "dashboard_port",
}


def local_settings() -> LocalSettings:
    """The environment's ports and hosts, or a ConfigError with one line per bad variable."""
    try:
        return LocalSettings()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            default = next((p.default for p in PORTS if p.variable == name), LOOPBACK)
            problems.append(
                f"{name}={err.get('input')!r} {str(err['msg']).lower()}. Example: {name}={default}"
            )
        raise ConfigError(" | ".join(problems)) from None
