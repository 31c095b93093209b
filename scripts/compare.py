#!/usr/bin/env python3
"""`tfreuse compare` for a checkout that is not installed: python scripts/compare.py BASE CAND."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tfreuse.commands.cli import main

if __name__ == "__main__":
    sys.exit(main(["compare", *sys.argv[1:]]))
