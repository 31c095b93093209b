"""Memory: process RSS sampled step by step (psutil), its growth per step, and allocator stats."""

from __future__ import annotations

import gc

import numpy as np
import psutil

from tfreuse import devices


def rss_bytes() -> int:
    """Resident set size of this process now."""
    return psutil.Process().memory_info().rss


def growth_per_step(samples: list[int]) -> float:
    """Slope in bytes/step of a least-squares line through RSS samples taken after each step.

    A fit rather than last-minus-first, so one page released or grabbed by the allocator at the
    edge of the window does not decide the figure.
    """
    if len(samples) < 2:
        return 0.0
    slope, _intercept = np.polyfit(np.arange(len(samples)), np.asarray(samples, dtype=float), 1)
    return round(float(slope), 1)


class MemoryWindow:
    """RSS before and after each step of a window, plus the device allocator where it has stats.

    Call `sample()` after every step. Garbage is collected before the baseline so that warm-up
    garbage is not freed in the middle of the window.
    """

    def __init__(self, device: str):
        self.device = device
        self.samples: list[int] = []

    def __enter__(self) -> "MemoryWindow":
        gc.collect()
        devices.reset_allocator_peak(self.device)
        self._allocator_start = devices.allocator_stats(self.device)
        self.baseline = rss_bytes()
        return self

    def sample(self) -> None:
        """Record RSS now (call once after each step)."""
        self.samples.append(rss_bytes())

    def __exit__(self, *exc_info) -> None:
        allocator_end = devices.allocator_stats(self.device)
        if self._allocator_start is None or allocator_end is None:
            self.allocator_peak = self.allocator_current_delta = None
        else:
            self.allocator_peak = int(allocator_end["peak"])
            self.allocator_current_delta = int(allocator_end["current"] - self._allocator_start["current"])

    @property
    def growth_per_step(self) -> float:
        """RSS growth in bytes per step over the window."""
        return growth_per_step(self.samples)

    @property
    def peak_delta(self) -> int:
        """Highest RSS sampled in the window minus the baseline taken just before it."""
        return max(self.samples, default=self.baseline) - self.baseline
