"""Open the HTML report in a real headless Chromium: images load, no network, no console error."""

import shutil

import pytest

from tfreuse.cli import main

from tests.report_helpers import MACHINE_A, derived_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium browser installed "
                                "(Debian: apt-get install chromium)")

# As the machine's notes say: without these, Chromium tries to reach Google's hosts on start.
QUIET_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_report_opens_offline_with_every_image_and_no_console_error(tmp_path):
    derived_run(tmp_path, "b.json", label="machine-b", slowdown=1.7)
    out = tmp_path / "report"
    assert main(["report", str(MACHINE_A), str(tmp_path / "b.json"), "-o", str(out)]) == 0
    requests, problems = [], []
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=QUIET_FLAGS)
        page = browser.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto((out / "index.html").as_uri(), wait_until="load")
        images = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        first_screen = page.evaluate("document.querySelector('.headlines').getBoundingClientRect().top")
        browser.close()
    assert len(images) >= 5 and all(images)
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
    assert problems == []
    assert first_screen < 200  # the headlines are the first thing a reader sees
