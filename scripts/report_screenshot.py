#!/usr/bin/env python3
"""Retake the README's screenshot: python scripts/report_screenshot.py REPORT/index.html [OUT.png].

Saves what a 1400x900 headless Chromium window shows of the report (default docs/report.png),
as a palette PNG. Needs the `test` extra (playwright) and a Chromium on PATH.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tfreuse.report.screenshot import first_screen  # noqa: E402


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print("usage: report_screenshot.py REPORT/index.html [OUT.png]", file=sys.stderr)
        return 2
    index = Path(argv[0])
    out = Path(argv[1]) if len(argv) == 2 else ROOT / "docs" / "report.png"
    if not index.is_file():
        print(f"report_screenshot: error: {index}: no such report (make one with tfreuse report)", file=sys.stderr)
        return 2
    try:
        print(first_screen(index, out))
    except FileNotFoundError as error:  # no Chromium
        print(f"report_screenshot: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
