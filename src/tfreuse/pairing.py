"""The `shared` reference timed right beside each round of another variant.

The machine's speed drifts: on the 2-core VM amd-epyc-2c-237aed a pure-Python loop ran 150 ms a round,
then 80 ms a few seconds later, and a retracing step went from 130 ms to 185 ms and back. A ratio
of two cases timed at different moments inherits that drift, so in a paired profile the harness
times the situation's `shared` step before every round of the variant (outside the variant's
timer): each round then has its own ratio, taken at the same moment.

Before the timed steps come untimed *settling* steps: right after a step that retraces or
builds, a millisecond step runs up to 2x slower for several steps (caches, allocator), which is
interference, not the cost of reuse. 5 ms of settling was not enough: in the recurrent scenario
(function mode, 16 time steps, a 1.1 ms `shared` step, 4 settling steps) the reference ran
16-66% above `shared`'s own median and `reinitialized`'s ratio read 5.0x; after 15 ms (13 steps)
the reference was within 13% of it and the ratio 6.9x, as the unpaired ratio of that run. Steps
slower than SETTLE_SECONDS need no settling, and a variant step is taken to disturb for no longer
than SETTLE_FACTOR times its own duration: after a 0.5 ms step, 1 ms of settling, not 15 (the
time budget counts the reference, so what settling saves goes to the variant's rounds).

Then `shared` steps are timed together for MEASURE_SECONDS or a tenth of the variant's step,
whichever is longer (1 to 32 steps), and their mean is the round's reference: one
sub-millisecond step alone varies by 10-25% from step to step, as much as the retracing step it
is compared with; and behind a 130 ms retracing step (recurrent, function mode, len16) the mean
of 3 steps of 1.5 ms still varied by +-25% from round to round while the variant's own rounds
varied by 5%, so the reference, not the variant, set the width of the ratio's interval.
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
