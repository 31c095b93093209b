"""The first screen of a report as headless Chromium shows it, saved as a small PNG (docs/report.png).

Needs playwright (the `test` extra) and a Chromium; imported only by the script and the tests
that use it, so the report itself never needs a browser.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

# Without these, Chromium tries to reach Google's hosts on start (and the page must work offline).
QUIET_FLAGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync")
FIRST_SCREEN = {"width": 1400, "height": 900}
# A palette of 128 colours keeps the report's few flat colours exact at about a third of the bytes.
PALETTE_COLOURS = 128


def chromium() -> str | None:
    """The Chromium executable on PATH, if any."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def first_screen(index: Path, png: Path) -> Path:
    """Save what a 1400x900 window shows of the report `index` to `png`, as a palette PNG."""
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from tfreuse.core.atomic import atomic_write

    executable = chromium()
    if executable is None:
        raise FileNotFoundError("no chromium browser on PATH (Debian: apt-get install chromium)")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=executable, args=list(QUIET_FLAGS))
        page = browser.new_page(viewport=FIRST_SCREEN)
        page.goto(Path(index).resolve().as_uri(), wait_until="load")
        shot = page.screenshot()
        browser.close()
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    small = image.quantize(colors=PALETTE_COLOURS, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    small.save(buffer, format="png", optimize=True)
    return atomic_write(Path(png), buffer.getvalue())
