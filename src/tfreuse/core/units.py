"""Formatting of figures for people: one formatter for bytes (binary units) and one for any other
number, so a report's headline, tables and command output say the same figure the same way."""

from __future__ import annotations

import math

BINARY_UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def _missing(value) -> bool:
    """None, NaN, infinite, or a missing marker such as pandas' NA (which refuses `isfinite`)."""
    try:
        return value is None or not math.isfinite(value)
    except TypeError:
        return True


def number(value, spec: str = ".3g", suffix: str = "") -> str:
    """`value` by a format spec, then `suffix`; '' when the figure is missing."""
    return "" if _missing(value) else f"{value:{spec}}{suffix}"


def byte_size(value: float | None, unit: str = "KiB") -> str:
    """Bytes in `unit` (`12.3 KiB`, `1.5 MiB`); tiny magnitudes as `0.0` (never `-0.0`); '' when missing."""
    if _missing(value):
        return ""
    shown = value / BINARY_UNITS[unit]
    return f"{shown if abs(shown) >= 0.05 else 0.0:.1f} {unit}"


def kib(value: float | None) -> str:
    """`byte_size` in KiB: the unit of every per-step memory figure tfreuse shows."""
    return byte_size(value, "KiB")
