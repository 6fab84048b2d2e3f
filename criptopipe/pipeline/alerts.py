"""A short JSON alert POSTed to a webhook (Slack-compatible `text` field). No Dagster here."""

from __future__ import annotations

from typing import Any

import httpx


def post_alert(url: str, payload: dict[str, Any], timeout: float = 10.0) -> None:
    """POST `payload` (plus a Slack-style `text`); raise on a non-2xx answer."""
    body = {
        "text": f"criptopipe: run {payload.get('run_id', '?')[:8]} of {payload.get('job')} "
        f"failed ({payload.get('assets') or '-'} {payload.get('partition') or ''}): "
        f"{str(payload.get('error', ''))[:300]}",
        **payload,
    }
    resp = httpx.post(url, json=body, timeout=timeout)
    resp.raise_for_status()
