import time

import pytest

from tfreuse.engine.pairing import MAX_MEASURED_STEPS, MAX_SETTLE_STEPS, SharedReference


def _reference(step_seconds, sleep=0.0):
    calls = []

    def step():
        calls.append("shared")
        time.sleep(sleep)

    return SharedReference(step, step_seconds), calls


def test_each_round_settles_then_times_the_steps_that_fit_the_measure_window():
    reference, calls = _reference(1e-3, sleep=1e-3)  # 15 ms of settling and 5 ms timed: 15 + 5 steps
    assert (reference.settle_steps, reference.measured_steps) == (15, 5)
    for _ in range(3):
        reference.before_round()
    assert len(calls) == 3 * (15 + 5)
    assert len(reference.samples) == 3 and all(s >= 1e-3 for s in reference.samples)  # per step


def test_round_seconds_counts_settling_and_timed_steps():
    assert _reference(1e-3)[0].round_seconds == pytest.approx(20 * 1e-3)
    assert _reference(0.05)[0].round_seconds == pytest.approx(0.05)


def test_settling_and_timed_steps_are_capped_for_tiny_steps_and_minimal_for_slow_ones():
    tiny = _reference(1e-5)[0]
    assert (tiny.settle_steps, tiny.measured_steps) == (MAX_SETTLE_STEPS, MAX_MEASURED_STEPS)
    slow = _reference(0.05)[0]
    assert (slow.settle_steps, slow.measured_steps) == (0, 1)


def test_a_sample_is_the_mean_of_the_timed_steps(monkeypatch):
    clock = iter([10.0, 10.8])  # perf_counter before and after 8 timed steps
    monkeypatch.setattr("tfreuse.engine.pairing.time.perf_counter", lambda: next(clock))
    reference, _ = _reference(1e-5)
    reference.before_round()
    assert reference.samples == [pytest.approx(0.8 / MAX_MEASURED_STEPS)]


def test_start_forgets_an_earlier_case():
    reference, _ = _reference(1.0)
    reference.before_round()
    reference.start()
    assert reference.samples == []


def test_settling_lasts_twice_the_variant_step_at_most_the_full_window():
    reference, calls = _reference(1e-4)
    reference.start(variant_step_seconds=5e-4)  # settle 1 ms: 10 steps of 0.1 ms
    assert reference.settle_steps == 10
    reference.start(variant_step_seconds=1.0)  # a slow variant: the full 15 ms, capped at 32 steps
    assert reference.settle_steps == MAX_SETTLE_STEPS
    reference.start()
    assert reference.settle_steps == MAX_SETTLE_STEPS


def test_a_slow_variant_gets_a_tenth_of_its_step_of_timed_reference_steps():
    reference, _ = _reference(1e-3)
    reference.start(variant_step_seconds=0.2)  # 20 ms of 1 ms steps
    assert reference.measured_steps == 20
    reference.start(variant_step_seconds=0.01)  # a tenth is 1 ms: the 5 ms minimum stays
    assert reference.measured_steps == 5
    reference.start(variant_step_seconds=10.0)
    assert reference.measured_steps == MAX_MEASURED_STEPS
