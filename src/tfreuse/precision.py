"""Rounds until the figure is precise: stop a case's timed rounds once its median is known well enough.

A fixed number of rounds is too many for most slow variants and too few for a few. In the full
profile on the 2-core VM amd-epyc-2c-237aed (full runs of 2026-11-26) the per-round ratio of most paired
variants slower than 15 ms varied by 2-5% (robust standard deviation), so 20 rounds pin the median
ratio within 2-3%; a handful that retrace or recompile every step varied by 12-21%, and 35 rounds
left their 95% interval 5-9% wide on each side. So a profile with a `precision` target runs the
planned rounds and then keeps going, one round at a time, until the interval of the median is
within the target or the case's time cap is reached.

The interval is the distribution-free one of a median (order statistics chosen from the binomial
distribution), cheap enough to recompute before every round. It is a little wider than the
report's bootstrap interval of the same median: never narrower in 2,522 prefixes (20, 27 and 35
rounds) of the per-round ratios of ten full runs here, 14% wider at the median, so a row that
stopped here is within the target in the report too.

The series watched is the per-round ratio to the `shared` reference when the case is paired,
else the step time itself. The check runs before a round, outside the timer, and stops the rounds
by raising EnoughRounds, which the harness catches (pytest-benchmark keeps the rounds timed so far).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from scipy.stats import binom

CONFIDENCE = 0.95

# Why a case's rounds ended (the record's `rounds_stop`).
PLANNED = "planned"  # the planned rounds were enough, or no target was set
PRECISE = "precise"  # ran past the planned rounds until the interval was within the target
CAPPED = "capped"  # ran into the round or time cap first


class EnoughRounds(Exception):
    """Raised before a round that is not needed: the figure is already precise enough."""


def _interval_of_sorted(ordered: np.ndarray) -> tuple[float, float]:
    count = len(ordered)
    if count < 2:
        return (np.nan, np.nan)
    # The number of samples below the median is Binomial(count, 1/2).
    lower = int(binom.ppf((1 - CONFIDENCE) / 2, count, 0.5))
    return float(ordered[max(lower - 1, 0)]), float(ordered[min(count - lower, count - 1)])


def median_interval(samples: Sequence[float]) -> tuple[float, float]:
    """Distribution-free 95% interval of the median of `samples`: two of its order statistics.

    (nan, nan) for fewer than 2 samples.
    """
    return _interval_of_sorted(np.sort(np.asarray(samples, float)))


def relative_half_width(samples: Sequence[float]) -> float:
    """Half the width of `median_interval`, relative to the median (inf when undefined)."""
    ordered = np.sort(np.asarray(samples, float))
    low, high = _interval_of_sorted(ordered)
    median = float(np.median(ordered)) if len(ordered) else np.nan
    if np.isnan(low) or not median:
        return np.inf
    return (high - low) / 2 / abs(median)


class StoppingRule:
    """Decides, before each round, whether the rounds so far already make a precise figure.

    `durations` returns the variant's round durations so far (pytest-benchmark's live data);
    `references`, when the case is paired, the `shared` reference timed before each round so far.
    The rounds run at least `at_least` times (the planned rounds) and at most `at_most`.
    """

    def __init__(self, durations: Callable[[], Sequence[float]], at_least: int, at_most: int,
                 target: float | None, references: Callable[[], Sequence[float]] | None = None):
        self._durations = durations
        self._references = references
        self.at_least = at_least
        self.at_most = max(at_least, at_most) if target is not None else at_least
        self.target = target
        self.reason = PLANNED

    def series(self) -> np.ndarray:
        """The figure of each round so far: its ratio to the reference, else its duration."""
        durations = np.asarray(self._durations(), float)
        if self._references is None:
            return durations
        return durations / np.asarray(self._references()[:len(durations)], float)

    def precise(self) -> bool:
        """Whether the interval of the median is within the target (True when there is none)."""
        return self.target is None or relative_half_width(self.series()) <= self.target

    def before_round(self) -> None:
        """Raise EnoughRounds once the planned rounds are done and the figure is precise."""
        done = len(self._durations())
        if done >= self.at_least and self.precise():
            self.reason = PLANNED if done == self.at_least else PRECISE
            raise EnoughRounds(f"precise after {done} rounds")

    def ran_out(self) -> None:
        """Record why the rounds ended when all `at_most` of them ran."""
        if self.at_most > self.at_least:
            self.reason = PRECISE if self.precise() else CAPPED
