"""Memory: process RSS sampled step by step (psutil), its growth per step, and allocator stats."""

from __future__ import annotations

import gc
import os

import numpy as np
import psutil

from tfreuse import devices


_THIS_PROCESS: list[psutil.Process] = []


def rss_bytes() -> int:
    """Resident set size of this process now (~30 us; a new psutil.Process each time costs ~85 us)."""
    if not _THIS_PROCESS or _THIS_PROCESS[0].pid != os.getpid():
        _THIS_PROCESS[:] = [psutil.Process()]
    return _THIS_PROCESS[0].memory_info().rss


def growth_per_step(samples: list[int], steps: list[int] | None = None) -> float:
    """Slope in bytes/step of a least-squares line through RSS samples (taken after `steps`).

    A fit rather than last-minus-first, so one page released or grabbed by the allocator at the
    edge of the window does not decide the figure. `steps` defaults to 0, 1, 2, ...
    """
    if len(samples) < 2:
        return 0.0
    x = np.arange(len(samples)) if steps is None else np.asarray(steps, dtype=float)
    slope, _intercept = np.polyfit(x, np.asarray(samples, dtype=float), 1)
    return round(float(slope), 1)


# Reading RSS costs ~30 us and slows the next step by about as much (caches): on a 0.5 ms step,
# reading after every step would add ~5% to its timing. The window reads it every few steps,
# so that on average the reads cost at most this share of a step.
SAMPLING_SHARE = 0.005
SAMPLE_COST_SECONDS = 60e-6


def sampling_interval(step_seconds: float) -> int:
    """Read RSS after every n-th step: 1 for slow steps, more for fast ones."""
    if step_seconds <= 0:
        return 1
    return max(1, int(np.ceil(SAMPLE_COST_SECONDS / (SAMPLING_SHARE * step_seconds))))


class MemoryWindow:
    """RSS after the steps of a window, plus the device allocator where it has stats.

    Call `sample()` after every step; RSS is read after every `every`-th one (and `steps` says
    after which). Garbage is collected before the baseline so that warm-up garbage is not freed
    in the middle of the window.
    """

    def __init__(self, device: str, every: int = 1):
        self.device = device
        self.every = every
        self.steps_seen = 0
        self.samples: list[int] = []
        self.steps: list[int] = []

    def __enter__(self) -> "MemoryWindow":
        gc.collect()
        devices.reset_allocator_peak(self.device)
        self._allocator_start = devices.allocator_stats(self.device)
        self.baseline = rss_bytes()
        return self

    def sample(self) -> None:
        """Call once after each step: records RSS after every `every`-th step."""
        self.steps_seen += 1
        if self.steps_seen % self.every == 0:
            self.samples.append(rss_bytes())
            self.steps.append(self.steps_seen)

    def __exit__(self, *exc_info) -> None:
        allocator_end = devices.allocator_stats(self.device)
        if self._allocator_start is None or allocator_end is None:
            self.allocator_peak = self.allocator_peak_delta = self.allocator_current_delta = None
        else:
            self.allocator_peak = int(allocator_end["peak"])
            # The peak counts everything alive, earlier cases' tensors too; above the start it does not.
            self.allocator_peak_delta = int(allocator_end["peak"] - self._allocator_start["current"])
            self.allocator_current_delta = int(allocator_end["current"] - self._allocator_start["current"])

    @property
    def growth_per_step(self) -> float:
        """RSS growth in bytes per step over the window."""
        return growth_per_step(self.samples, self.steps)

    @property
    def peak_delta(self) -> int:
        """Highest RSS sampled in the window minus the baseline taken just before it."""
        return max(self.samples, default=self.baseline) - self.baseline


def retained_bytes() -> int:
    """Memory the process keeps now, after a garbage collection: what the guard and `tfreuse watch`
    compare between two moments (RSS today; the one call to point at a bytes-in-use probe)."""
    gc.collect()
    return rss_bytes()
