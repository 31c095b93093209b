"""Formatting of byte figures for people."""

from __future__ import annotations

import math


def kib(value: float | None) -> str:
    """Bytes as `12.3 KiB`; tiny magnitudes as `0.0 KiB` (never `-0.0`); '' when missing."""
    if value is None or not math.isfinite(value):
        return ""
    shown = value / 1024
    return f"{shown if abs(shown) >= 0.05 else 0.0:.1f} KiB"
