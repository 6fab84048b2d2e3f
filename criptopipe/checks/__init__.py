"""Asset checks over the stored data (see issue 6)."""

from __future__ import annotations

from typing import Any

coincap_checks: list[Any] = []
