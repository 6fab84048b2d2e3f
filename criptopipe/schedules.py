"""Schedules built from the partitioned jobs."""

from __future__ import annotations

from typing import Any

schedules: list[Any] = []
