import pytest

from tfreuse.probes.memory import MemoryWindow, growth_per_step, sampling_interval

MIB = 1 << 20


def test_growth_is_the_slope_of_a_line_through_the_samples():
    assert growth_per_step([100, 300, 500, 700]) == pytest.approx(200)
    assert growth_per_step([500]) == 0.0


def test_one_edge_jump_does_not_decide_the_slope():
    jump = 1 << 20
    flat_with_jump = [1000] * 19 + [1000 + jump]
    last_minus_first_per_step = jump / 19
    assert growth_per_step(flat_with_jump) < last_minus_first_per_step / 2


def test_detects_a_leak_of_one_mib_per_step():
    kept = []
    with MemoryWindow("CPU:0") as window:
        for step in range(30):
            kept.append(bytes([step % 256]) * MIB)  # written, so resident
            window.sample()
    assert 0.8 * MIB < window.growth_per_step < 1.25 * MIB
    assert window.peak_delta >= 25 * MIB


def test_reports_near_zero_for_a_no_op():
    with MemoryWindow("CPU:0") as window:
        for _ in range(30):
            window.sample()
    assert abs(window.growth_per_step) < 16 * 1024


def test_allocator_figures_are_both_set_or_both_none():
    with MemoryWindow("CPU:0") as window:
        window.sample()
    assert (window.allocator_peak is None) == (window.allocator_current_delta is None)


def test_sparse_samples_still_give_growth_per_step():
    kept = []
    with MemoryWindow("CPU:0", every=3) as window:
        for step in range(30):
            kept.append(bytes([step % 256]) * MIB)
            window.sample()
    assert window.steps == list(range(3, 31, 3)) and len(window.samples) == 10
    assert window.steps_seen == 30
    assert 0.8 * MIB < window.growth_per_step < 1.25 * MIB


def test_fast_steps_are_sampled_less_often():
    assert sampling_interval(1.0) == 1
    assert sampling_interval(0.05) == 1
    assert sampling_interval(5e-4) > sampling_interval(5e-3) > 1
    assert sampling_interval(0.0) == 1
