"""Formatting of figures for people: one formatter for bytes (binary units), one for any other
number and one for a ratio with its interval, so a report's headline, tables and command output
say the same figure the same way."""

from __future__ import annotations

import math
from collections.abc import Callable

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


def significant(value: float) -> str:
    """Three significant digits, trailing zeros kept (`7.00`, `0.688`, `362`)."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:#.3g}"


Spec = str | Callable[[float], str]


def _shown(value: float, spec: Spec) -> str:
    return spec(value) if callable(spec) else f"{value:{spec}}"


def interval_text(low: float | None, high: float | None, spec: Spec = ".2f", dash: str = "–",
                  brackets: str = "") -> str:
    """`low–high` inside `brackets` (`"[]"`, `"()"` or none), each end by a format spec or a
    formatter; '' when an end is missing."""
    if _missing(low) or _missing(high):
        return ""
    return f"{brackets[:1]}{_shown(low, spec)}{dash}{_shown(high, spec)}{brackets[1:]}"


def ratio_text(ratio: float | None, low: float | None = None, high: float | None = None, spec: Spec = ".2f",
               brackets: str = "[]", dash: str = "–") -> str:
    """A ratio to the reuse baseline and its interval where it has one, e.g. `3.00x [2.90–3.10]`;
    '' when the ratio is missing."""
    if _missing(ratio):
        return ""
    interval = interval_text(low, high, spec, dash, brackets)
    return f"{_shown(ratio, spec)}x" + (f" {interval}" if interval else "")
