"""Intervals over processes: a figure measured in K fresh processes, resampled processes first, then rounds.

One process gives one estimate of a benchmark (the median of its rounds, or of its per-round
ratios to `shared`). The rounds of one process are taken at one moment; the spread between
processes and moments is several times larger (docs/methodology.md, "Intervals"), so an interval
over rounds alone is too narrow for anyone comparing with another run. Here the figure of K
processes is the geometric mean of their estimates, and its interval a hierarchical bootstrap
(Kalibera and Jones, "Rigorous benchmarking in reasonable time", 2013): each resample draws K
processes with replacement, then, within each drawn process, its rounds with replacement. The
interval thus carries the spread between processes as well as the one between rounds; with one
process it is the rounds' alone, and is labelled so wherever it is shown.

With few processes a plain percentile bootstrap is too narrow: it sees only the K estimates (a
mean of 3 values resampled has 2/3 of the variance it should, and no tail beyond the extreme
ones). So the replicates are spread about the figure by `small_sample_factor(K)`, sqrt(K/(K-1))
times the ratio of Student's t quantile with K-1 degrees of freedom to the normal one: the width
a t interval of a mean of K values would have (Hesterberg, "What teachers should know about the
bootstrap", 2015, for the narrowness of percentile intervals in small samples). K=3: 2.69,
K=5: 1.58, K=10: 1.22.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import norm, t

RESAMPLES = 2000
# Resamples of one process's rounds (the report's within-process intervals).
BOOTSTRAP_RESAMPLES = 1000


def bootstrap_medians(samples: list, resamples: int = BOOTSTRAP_RESAMPLES,
                      seed: int = 0) -> np.ndarray:
    """(len(samples), resamples) medians of bootstrap resamples of each sample list.

    Resampling indices into a *sorted* sample list, the median of a resample is the mean of the
    two middle order statistics of its sorted indices. Lists of one length share one draw of
    indices, so the whole bootstrap is a sort and two fancy-indexing lookups per length instead
    of a median per row and resample. Each length draws from its own stream, seeded by (seed,
    length), so a row's interval depends on its samples alone, not on which other rows are in the
    file. Rows with fewer than 2 samples get NaN.
    """
    medians = np.full((len(samples), resamples), np.nan)
    lengths = np.array([len(s) for s in samples])
    for length in sorted(set(lengths[lengths >= 2].tolist())):
        rows = np.flatnonzero(lengths == length)
        ordered = np.sort(np.array([samples[i] for i in rows], dtype=float), axis=1)
        rng = np.random.default_rng([seed, length])
        picks = np.sort(rng.integers(0, length, (resamples, length)), axis=1)
        lower, upper = picks[:, (length - 1) // 2], picks[:, length // 2]
        medians[rows] = (ordered[:, lower] + ordered[:, upper]) / 2
    return medians


CONFIDENCE = 0.95


def small_sample_factor(processes: int) -> float:
    """How much wider than the plain bootstrap the interval of K processes is made (1 for K=1)."""
    if processes < 2:
        return 1.0
    tail = 1 - (1 - CONFIDENCE) / 2
    return float(np.sqrt(processes / (processes - 1)) * t.ppf(tail, processes - 1) / norm.ppf(tail))


def _within_medians(processes: Sequence[Sequence[float]], count: int, seed: int) -> np.ndarray:
    """(len(processes), count) bootstrap medians of each process's rounds; a one-round process
    contributes its one value (no spread within it can be seen)."""
    medians = bootstrap_medians([list(rounds) for rounds in processes], resamples=count, seed=seed)
    for index, rounds in enumerate(processes):
        if len(rounds) == 1:
            medians[index] = float(rounds[0])
    return medians


def _draws(processes: int, resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Which process fills each slot of each resample, and a column of its own for every slot,
    so a process drawn twice in one resample gets two independent draws of its rounds."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, processes, (resamples, processes))
    columns = np.arange(resamples * processes).reshape(resamples, processes)
    return picks, columns


def point(processes: Sequence[Sequence[float]], bottoms: Sequence[Sequence[float]] | None = None) -> float:
    """The figure of K processes: geometric mean of each process's median (over its `shared`
    median, when `bottoms` gives the `shared` rounds of the same process)."""
    estimates = np.array([np.median(rounds) for rounds in processes], float)
    if bottoms is not None:
        estimates = estimates / np.array([np.median(rounds) for rounds in bottoms], float)
    return float(np.exp(np.mean(np.log(estimates))))


def hierarchical(processes: Sequence[Sequence[float]], bottoms: Sequence[Sequence[float]] | None = None,
                 resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """`resamples` hierarchical-bootstrap replicates of `point(processes, bottoms)`.

    Processes are drawn first; for a ratio, the variant and its `shared` rounds of a drawn process
    stay together (they were timed in the same process), their rounds are redrawn apart.
    Empty input or a process with no rounds gives NaN replicates.
    """
    if not len(processes) or any(len(rounds) == 0 for rounds in processes):
        return np.full(resamples, np.nan)
    count = len(processes)
    picks, columns = _draws(count, resamples, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(_within_medians(processes, resamples * count, seed + 1)[picks, columns])
        if bottoms is not None:
            if any(len(rounds) == 0 for rounds in bottoms):
                return np.full(resamples, np.nan)
            logs -= np.log(_within_medians(bottoms, resamples * count, seed + 2)[picks, columns])
    replicates = logs.mean(axis=1)
    centre = np.log(point(processes, bottoms))
    return np.exp(centre + small_sample_factor(count) * (replicates - centre))


def interval(replicates: np.ndarray) -> tuple[float, float]:
    """The central CONFIDENCE percentile interval of bootstrap replicates (NaNs if any is NaN)."""
    if np.isnan(replicates).any():
        return (np.nan, np.nan)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return float(low), float(high)


def next_measurement(processes: Sequence[Sequence[float]], bottoms: Sequence[Sequence[float]] | None = None,
                     seed: int = 0) -> tuple[float, float]:
    """The 95% interval that holds the figure of the next measurement of as many processes.

    A user holds one run's interval against the next run's figure, which varies as much as this
    one's: the difference of two such figures has twice the variance of one, so the interval of
    this figure (`hierarchical`) is widened by sqrt(2) about it, in log space (a prediction
    interval rather than a confidence interval of the mean).
    """
    replicates = hierarchical(processes, bottoms, seed=seed)
    centre = np.log(point(processes, bottoms))
    with np.errstate(divide="ignore", invalid="ignore"):
        return interval(np.exp(centre + np.sqrt(2) * (np.log(replicates) - centre)))


def change(base: np.ndarray, candidate: np.ndarray) -> tuple[float, float]:
    """Interval of candidate / base - 1 from the two sides' replicates (drawn independently)."""
    low, high = interval(candidate / base)
    return low - 1, high - 1


def bootstrap_median_ratio(variant: np.ndarray, shared: np.ndarray,
                           resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of median(variant) / median(shared), sides resampled apart."""
    top = bootstrap_medians([list(variant)], resamples, seed)[0]
    bottom = bootstrap_medians([list(shared)], resamples, seed + 1)[0]
    if np.isnan(top).any() or np.isnan(bottom).any():
        return (np.nan, np.nan)
    low, high = np.percentile(top / bottom, [2.5, 97.5])
    return float(low), float(high)
