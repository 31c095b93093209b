"""The `shared` reference timed right beside each round of another variant.

A machine's speed drifts from one second to the next, and a ratio of two cases timed at different
moments inherits that drift. So in a paired profile the harness times the situation's `shared`
step before every round of the variant (outside the variant's timer): each round then has its own
ratio, taken at the same moment.

Before the timed steps come untimed *settling* steps: right after a step that retraces or builds,
a millisecond step runs slower for several steps (caches, allocator), which is interference, not
the cost of reuse. Settling lasts SETTLE_SECONDS (at most MAX_SETTLE_STEPS steps), and a variant
step is taken to disturb for no longer than SETTLE_FACTOR times its own duration: after a 0.5 ms
step, 1 ms of settling, not 15. A `shared` step slower than the settling time gets none. The time
budget counts the reference, so what settling saves goes to the variant's rounds.

Then `shared` steps are timed together for MEASURE_SECONDS or MEASURE_FRACTION of the variant's
step, whichever is longer (1 to MAX_MEASURED_STEPS steps), and their mean is the round's
reference: one sub-millisecond step alone varies from step to step about as much as the step it
is compared with, and would set the width of the ratio's interval instead of the variant.

The measurements behind these lengths, and what pairing gains: docs/methodology.md, "Timing at the
same moment: pairing".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

SETTLE_SECONDS = 0.015
SETTLE_FACTOR = 2.0
MAX_SETTLE_STEPS = 32
MEASURE_SECONDS = 0.005
MEASURE_FRACTION = 0.1
MAX_MEASURED_STEPS = 32


def _steps_within(seconds: float, step_seconds: float, most: int) -> int:
    return min(most, int(seconds / max(step_seconds, 1e-9)))


class SharedReference:
    """A built, warmed-up `shared` step; `before_round` times it once per variant round."""

    def __init__(self, step: Callable[[], Any], step_seconds: float):
        self._step = step
        self.step_seconds = step_seconds
        self.samples: list[float] = []
        self.start()

    @property
    def round_seconds(self) -> float:
        """What the reference adds to each round of the variant (settling and timed steps)."""
        return (self.settle_steps + self.measured_steps) * self.step_seconds

    def start(self, variant_step_seconds: float | None = None) -> None:
        """Forget the samples of an earlier case; size the settling and timed steps for a
        variant step of `variant_step_seconds` (SETTLE_SECONDS and MEASURE_SECONDS if not given)."""
        self.samples = []
        settle, measure = SETTLE_SECONDS, MEASURE_SECONDS
        if variant_step_seconds is not None:
            settle = min(SETTLE_SECONDS, SETTLE_FACTOR * variant_step_seconds)
            measure = max(MEASURE_SECONDS, MEASURE_FRACTION * variant_step_seconds)
        self.settle_steps = _steps_within(settle, self.step_seconds, MAX_SETTLE_STEPS)
        self.measured_steps = max(1, _steps_within(measure, self.step_seconds, MAX_MEASURED_STEPS))

    def before_round(self) -> None:
        """Settle, then time `measured_steps` steps; record their mean (outside the variant's timer)."""
        for _ in range(self.settle_steps):
            self._step()
        started = time.perf_counter()
        for _ in range(self.measured_steps):
            self._step()
        self.samples.append((time.perf_counter() - started) / self.measured_steps)
