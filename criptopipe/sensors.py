"""Sensors: new coins, freshness, run failures."""

from __future__ import annotations

from typing import Any

sensors: list[Any] = []
