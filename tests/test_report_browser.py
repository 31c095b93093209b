"""Open the HTML report in a real headless Chromium: figures drawn, no network, no console error,
and at 1400x900 the first screen holds the headlines and the overview chart."""

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tfreuse.commands.cli import main
from tfreuse.report.screenshot import FIRST_SCREEN, QUIET_FLAGS, chromium

from tests.report_helpers import MACHINE_A, derived_run, many_scenario_run

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = chromium()
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = [pytest.mark.slow,  # a real browser opens each page
              pytest.mark.skipif(CHROMIUM is None, reason="no chromium browser installed "
                                 "(Debian: apt-get install chromium)")]
BOX = "(selector) => { const r = document.querySelector(selector).getBoundingClientRect(); " \
      "return [r.left, r.top, r.right, r.bottom]; }"


def _open(index, screenshot=None):
    """What Chromium shows of `index` at 1400x900: requests, console errors, boxes of interest."""
    requests, problems = [], []
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=list(QUIET_FLAGS))
        page = browser.new_page(viewport=FIRST_SCREEN)
        page.on("request", lambda request: requests.append(request.url))
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(index.as_uri(), wait_until="load")
        seen = {
            "figures": page.evaluate("Array.from(document.querySelectorAll('svg.figure'))"
                                     ".map(f => { const r = f.getBoundingClientRect(); return r.width * r.height; })"),
            "marks": page.evaluate("Array.from(document.querySelectorAll('svg.figure'))"
                                   ".map(f => f.querySelectorAll('path, use').length)"),
            "headlines": page.evaluate(BOX, ".headlines"),
            "overview": page.evaluate(BOX, "#overview svg"),
        }
        if screenshot:
            page.screenshot(path=str(screenshot))
        browser.close()
    seen["offsite"] = [url for url in requests if not url.startswith(("file:", "data:"))]
    seen["problems"] = problems
    return seen


def test_report_opens_offline_with_every_figure_and_no_console_error(tmp_path):
    derived_run(tmp_path, "b.json", label="machine-b", slowdown=1.7)
    out = tmp_path / "report"
    assert main(["report", str(MACHINE_A), str(tmp_path / "b.json"), "-o", str(out)]) == 0
    seen = _open(out / "index.html")
    # Overview, heatmap, and per scenario (2) a combined figure and the distributions.
    assert len(seen["figures"]) == 6
    assert all(seen["marks"]) and all(area > 0 for area in seen["figures"][:3])  # drawn, not blank
    assert seen["offsite"] == []
    assert seen["problems"] == []
    assert seen["headlines"][1] < 200  # the headlines are the first thing a reader sees


def test_a_full_runs_first_screen_holds_the_headlines_and_the_overview_chart(tmp_path):
    run = many_scenario_run(tmp_path)  # 13 scenarios, as a full run has
    out = tmp_path / "report"
    assert main(["report", str(run), "-o", str(out)]) == 0
    seen = _open(out / "index.html", screenshot=tmp_path / "first-screen.png")
    left, top, right, bottom = seen["overview"]
    assert 0 <= left < right <= FIRST_SCREEN["width"] and 0 <= top < bottom <= FIRST_SCREEN["height"]
    assert (right - left) > 600 and (bottom - top) > 500  # whole, and large enough to read
    assert seen["headlines"][1] < 200
    png = (tmp_path / "first-screen.png").read_bytes()
    assert struct.unpack(">II", png[16:24]) == (1400, 900)  # the screenshot is the first screen
    assert seen["problems"] == []


def test_the_screenshot_script_saves_the_first_screen_as_a_small_png(tmp_path):
    run = many_scenario_run(tmp_path)
    assert main(["report", str(run), "-o", str(tmp_path / "report")]) == 0
    script = ROOT / "scripts" / "report_screenshot.py"
    result = subprocess.run([sys.executable, str(script), "report/index.html", "shot.png"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    png = (tmp_path / "shot.png").read_bytes()
    assert struct.unpack(">II", png[16:24]) == (1400, 900)
    assert png[25] == 3  # colour type 3: a palette PNG
    missing = subprocess.run([sys.executable, str(script), "nowhere/index.html", "shot.png"], cwd=tmp_path,
                             capture_output=True, text=True)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        "report_screenshot: error: nowhere/index.html: no such report (make one with tfreuse report)"]
