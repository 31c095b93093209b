"""pytest-benchmark's `benchmark` fixture behind one small class: the only module that touches it.

The harness and the plugin need five things of it: timed rounds with work before and after each
round outside the timer, one timed call (the row of a refused variant, or an instruction count's
window), the statistics of what it timed, the group its row is shown in, and `extra_info`, where
the record goes. Everything else about the fixture (`pedantic`, `disabled`, `stats`, ...) stays
here, so a change in pytest-benchmark is mended in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# pytest-benchmark's statistics as its JSON holds them (besides `data`, the rounds' timings).
STATS = ("min", "max", "mean", "median", "stddev", "iqr", "rounds", "ops")


class Timer:
    """The `benchmark` fixture of one test, as tfreuse uses it."""

    def __init__(self, benchmark: Any):
        self._benchmark = benchmark

    @property
    def disabled(self) -> bool:
        """Whether timing is off (`--benchmark-disable`): pytest-benchmark then calls its target once."""
        return bool(getattr(self._benchmark, "disabled", False))

    def rounds(self, step: Callable[[], Any], rounds: int, before_each: Callable[[], Any] | None,
               after_each: Callable[[], Any]) -> None:
        """`rounds` timed rounds of `step`, one call each; `before_each` and `after_each` run outside
        the timer.

        With timing off pytest-benchmark calls the step once and skips setup and teardown, so the
        rounds are run here around that call: the probes still see every step.
        """
        if self.disabled:
            for round_number in range(rounds):
                if before_each is not None:
                    before_each()
                if round_number == 0:
                    self._benchmark.pedantic(step)
                else:
                    step()
                after_each()
            return
        self._benchmark.pedantic(step, setup=before_each, teardown=after_each, rounds=rounds, iterations=1,
                                 warmup_rounds=0)

    def once(self, target: Callable[..., Any], *args: Any) -> Any:
        """`target(*args)` as the test's one timed round of one call (its row in the JSON); its result."""
        return self._benchmark.pedantic(target, args=args, rounds=1, iterations=1)

    def summary(self) -> dict | None:
        """The statistics of the timed rounds as pytest-benchmark's JSON holds them (STATS and
        `data`), or None before anything was timed or when timing is off."""
        stats = getattr(getattr(self._benchmark, "stats", None), "stats", None)
        if not stats:
            return None
        return {**{name: getattr(stats, name) for name in STATS}, "data": list(stats.data)}

    @property
    def group(self) -> str | None:
        """The group pytest-benchmark shows the test's row in."""
        return self._benchmark.group

    @group.setter
    def group(self, name: str) -> None:
        self._benchmark.group = name

    def record(self, figures: dict) -> None:
        """Add `figures` to the test's `extra_info` (saved with its row in the JSON)."""
        self._benchmark.extra_info.update(figures)
