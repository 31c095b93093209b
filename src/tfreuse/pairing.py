"""The `shared` reference timed right beside each round of another variant.

The machine's speed drifts: on this workplace's 2-core VM a pure-Python loop ran 150 ms a round,
then 80 ms a few seconds later, and a retracing step went from 130 ms to 185 ms and back. A ratio
of two cases timed at different moments inherits that drift, so in a paired profile the harness
times one step of the situation's `shared` step before every round of the variant (outside the
variant's timer): each round then has its own ratio, taken at the same moment. Before that
timed step come a few untimed *settling* steps: right after a step that retraces or builds, a
sub-millisecond step runs up to 2x slower for some 5 to 8 steps (caches, allocator), which is
interference, not the cost of reuse. Steps slower than SETTLE_SECONDS need no settling.
"""

from __future__ import annotations

import time
from typing import Any, Callable

SETTLE_SECONDS = 0.005
MAX_SETTLE_STEPS = 8


class SharedReference:
    """A built, warmed-up `shared` step; `before_round` times one step of it per variant round."""

    def __init__(self, step: Callable[[], Any], step_seconds: float):
        self._step = step
        self.step_seconds = step_seconds
        self.settle_steps = min(MAX_SETTLE_STEPS, int(SETTLE_SECONDS / max(step_seconds, 1e-9)))
        self.samples: list[float] = []

    def start(self) -> None:
        """Forget the samples of an earlier case."""
        self.samples = []

    def before_round(self) -> None:
        """Settle, then time one `shared` step (called before each variant round, outside its timer)."""
        for _ in range(self.settle_steps):
            self._step()
        started = time.perf_counter()
        self._step()
        self.samples.append(time.perf_counter() - started)
