"""Animated GIFs for the README, recorded by the browser tests.

A test takes frames of its page as it goes (`Recording.frame`) and `save()` assembles them
with Pillow into one looping GIF. Every browser test run records a few small frames and builds
the GIF in its temporary folder (so the machinery is exercised on every run); with
CRIPTOPIPE_GIFS=1 the GIF is written to docs/img/<name>.gif at README size instead:

    CRIPTOPIPE_GIFS=1 pytest criptopipe_tests/e2e/test_ui_browser.py \\
        criptopipe_tests/e2e/test_dashboard_browser.py
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from criptopipe_tests.e2e.browser import SHOTS

#: the README's width for a GIF; a test run's own frames are smaller
README_WIDTH = 960
TEST_WIDTH = 320


def for_readme() -> bool:
    return os.environ.get("CRIPTOPIPE_GIFS") == "1"


@dataclass
class Recording:
    """Frames of one browser page, assembled into `name`.gif."""

    name: str
    tmp: Path
    frames: list[tuple[bytes, int]] = field(default_factory=list)  # (png, ms shown)

    def frame(self, page: Any, hold_ms: int = 700, full_page: bool = False) -> None:
        """The page as it is now, shown for `hold_ms` in the GIF."""
        self.frames.append((page.screenshot(full_page=full_page), hold_ms))

    def path(self) -> Path:
        return (SHOTS if for_readme() else self.tmp) / f"{self.name}.gif"

    def save(self) -> Path:
        """One looping GIF of the frames, each scaled to the same width (palette per frame,
        so charts keep their colours)."""
        from PIL import Image

        if not self.frames:
            raise AssertionError(f"{self.name}: no frames were recorded")
        width = README_WIDTH if for_readme() else TEST_WIDTH
        images = []
        for png, _ in self.frames:
            image = Image.open(io.BytesIO(png)).convert("RGB")
            height = round(image.height * width / image.width)
            images.append(
                image.resize((width, height), Image.Resampling.LANCZOS).convert(
                    "P", palette=Image.Palette.ADAPTIVE, colors=128
                )
            )
        # frames of a full-page shot can differ in height: pad to the first frame's
        size = images[0].size
        images = [self._fit(image, size) for image in images]
        out = self.path()
        out.parent.mkdir(parents=True, exist_ok=True)
        images[0].save(
            out,
            save_all=True,
            append_images=images[1:],
            duration=[ms for _, ms in self.frames],
            loop=0,
            optimize=True,
            disposal=1,
        )
        return out

    @staticmethod
    def _fit(image: Any, size: tuple[int, int]) -> Any:
        if image.size == size:
            return image
        from PIL import Image

        canvas = Image.new("RGB", size, "white")
        canvas.paste(image.convert("RGB").crop((0, 0, *size)), (0, 0))
        return canvas.convert("P", palette=Image.Palette.ADAPTIVE, colors=128)


def assert_animated(path: Path, frames: int) -> None:
    """The file is a looping, animated GIF of at most `frames` frames (Pillow merges identical
    neighbours), each of the width it was made for: what the README will show."""
    from PIL import Image

    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.is_animated, path
        assert 2 <= gif.n_frames <= frames, (gif.n_frames, frames)
        assert gif.info.get("loop") == 0
        assert gif.size[0] == (README_WIDTH if for_readme() else TEST_WIDTH)
