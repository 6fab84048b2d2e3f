"""`make run` without a CoinCap key runs on synthetic data end to end: the CoinCap sandbox and,
beside it, the exchange sandbox (the same coins), which `make stop` stops too."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from criptopipe import config
from criptopipe.local import env as localenv


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, servers: dict[str, str]) -> Path:
    """A project folder whose stores are the suite's servers (no embedded ones started)."""
    (tmp_path / "dagster.yaml").write_text("")
    for field in config.Settings.model_fields.values():
        if field.alias:
            monkeypatch.delenv(field.alias, raising=False)
    monkeypatch.setenv("DATABASE_URL", servers["postgres"])
    monkeypatch.setenv("MONGODB_URI", servers["mongo"])
    return tmp_path


def test_without_a_key_both_sandboxes_start_and_stop_together(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (a developer's own `make run` may hold the fixed ports: another free port is taken then)
    try:
        local = localenv.prepare(project)
        assert local.sandbox and local.exchange_sandbox is not None
        urls = local.env["CRIPTOPIPE_EXCHANGE_URLS"]
        assert urls == (
            f"binance={local.exchange_sandbox}/binance,kraken={local.exchange_sandbox}/kraken"
        )
        for key, value in local.env.items():
            monkeypatch.setenv(key, value)
        settings = config.settings()  # what the pipeline then reads: valid, both imitated
        assert set(settings.exchange_urls) == {"binance", "kraken"}
        assert settings.exchange_rate_limit_ms == {"binance": 5.0, "kraken": 20.0}
        health = httpx.get(f"{local.exchange_sandbox}/__admin/health", timeout=5).json()
        assert health["exchanges"] == ["binance", "kraken"]
    finally:
        stopped = localenv.stop(project)
    assert stopped == ["sandbox", "exchange sandbox"]
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{local.exchange_sandbox}/__admin/health", timeout=2)


def test_with_a_coincap_key_neither_sandbox_starts(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COINCAP_API_KEY", "a-real-key")
    local = localenv.prepare(project)
    assert not local.sandbox and local.exchange_sandbox is None
    assert "CRIPTOPIPE_EXCHANGE_URLS" not in local.env
    assert localenv.stop(project) == []
