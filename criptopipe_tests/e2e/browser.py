"""Headless Chromium for end-to-end tests: PyPI playwright driving Debian's /usr/bin/chromium."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "img"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    found = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(found):
        raise AssertionError(
            "Chromium is missing: `apt-get install -y chromium` (scripts/ensure-system-deps.sh "
            "does it as root)."
        )
    return found


@contextmanager
def page(width: int = 1440, height: int = 900) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="chromium-")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=chromium_path(),
            headless=True,
            args=FLAGS,
            viewport={"width": width, "height": height},
        )
        try:
            yield context.new_page()
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def shot_path(name: str, tmp: Path) -> Path:
    """docs/img/<name>.png when CRIPTOPIPE_SCREENSHOTS=1 (to refresh the README), else tmp."""
    if os.environ.get("CRIPTOPIPE_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        return SHOTS / f"{name}.png"
    return tmp / f"{name}.png"
