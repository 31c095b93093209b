"""Hierarchical bootstrap: processes resampled first, then rounds, on synthetic data."""

import numpy as np
import pytest

from tfreuse.core import intervals

# Fewer resamples than the report's: enough here, and arrays small enough that the allocator's
# freed chunks do not change the RSS figures of tests that run after these (tests/test_memory.py).
LIGHT = 500


def _runs(offsets, rounds=30, within=0.01, seed=0):
    """Processes whose rounds scatter by `within` around a level of their own (`offsets`)."""
    rng = np.random.default_rng(seed)
    return [list(level * (1 + within * rng.standard_normal(rounds))) for level in offsets]


def _half_width(replicates):
    low, high = intervals.interval(replicates)
    return (high - low) / 2


def test_between_process_spread_widens_the_interval_to_cover_it():
    levels = np.exp(np.random.default_rng(1).normal(0, 0.10, 8))  # 10% between processes, 1% within
    processes = _runs(levels)
    replicates = intervals.hierarchical(processes, resamples=LIGHT)
    pooled = intervals.hierarchical([sum(processes, [])], resamples=LIGHT)  # every round as if from one process
    assert _half_width(replicates) > 5 * _half_width(pooled)
    low, high = intervals.interval(replicates)
    assert low < intervals.point(processes) < high
    assert low < float(np.exp(np.mean(np.log(levels)))) < high


def test_one_process_gives_the_interval_of_its_rounds():
    processes = _runs([1.0], rounds=50, within=0.05)
    low, high = intervals.interval(intervals.hierarchical(processes, resamples=LIGHT))
    assert low < np.median(processes[0]) < high
    assert 0 < high - low < 0.05


def test_identical_processes_add_no_width():
    one = _runs([1.0], within=0.02)[0]
    alone = _half_width(intervals.hierarchical([one], resamples=LIGHT))
    together = _half_width(intervals.hierarchical([one] * 6, resamples=LIGHT))
    assert together < alone  # six draws of the same rounds average out; no spread between them


def test_a_ratio_keeps_each_process_with_its_own_shared_rounds():
    # Each process ran 20% fast or slow as a whole: the variant/shared ratio of each is 3.
    levels = [0.8, 1.0, 1.25, 0.9, 1.1]
    shared = _runs(levels, within=0.001)
    variant = [[3 * x for x in rounds] for rounds in shared]
    assert intervals.point(variant, shared) == pytest.approx(3, rel=1e-6)
    low, high = intervals.interval(intervals.hierarchical(variant, shared))
    assert 2.99 < low <= high < 3.01


def test_change_interval_of_a_real_slowdown_lies_above_zero():
    base = intervals.hierarchical(_runs([1.0, 1.02, 0.98]))
    slower = intervals.hierarchical(_runs([1.5, 1.53, 1.47], seed=2), seed=7)
    low, high = intervals.change(base, slower)
    assert 0.3 < low < 0.5 < high < 0.7


def test_a_single_round_process_and_empty_input():
    assert np.isfinite(intervals.hierarchical([[1.0], [1.1]])).all()
    assert np.isnan(intervals.hierarchical([])).all()
    assert np.isnan(intervals.interval(np.array([1.0, np.nan]))).all()


def test_few_processes_get_the_width_of_a_t_interval():
    assert intervals.small_sample_factor(1) == 1.0
    assert intervals.small_sample_factor(3) == pytest.approx(2.69, abs=0.01)
    assert intervals.small_sample_factor(5) == pytest.approx(1.58, abs=0.01)
    assert intervals.small_sample_factor(10) == pytest.approx(1.22, abs=0.01)


def test_three_process_intervals_cover_the_true_figure_about_95_percent_of_the_time():
    # 200 measurements of 3 processes each; each process off the true level by 5% (lognormal),
    # its rounds by 1%. A plain percentile bootstrap of 3 processes covers about 74% of the time.
    rng = np.random.default_rng(3)
    covered = 0
    for index in range(200):
        processes = _runs(np.exp(rng.normal(0, 0.05, 3)), rounds=15, seed=index)
        low, high = intervals.interval(intervals.hierarchical(processes, resamples=400, seed=index))
        covered += low <= 1.0 <= high
    assert 0.90 <= covered / 200 <= 1.0
