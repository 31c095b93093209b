"""The harness-overhead check: what it times, and that a GPU's device wait is counted in it."""

import pytest

from tfreuse import devices, overhead
from tfreuse.harness import Case
from tfreuse.profiles import PROFILES

from tests.test_harness import Toy


def test_on_cpu_there_is_no_wait_and_the_overhead_is_the_probes():
    measured = overhead.measure(Toy(), Case("toy", "shared", "function", "CPU:0", "tiny"), PROFILES["smoke"])
    assert measured["device_wait_s"] == 0.0
    assert measured["overhead"] == measured["probe_overhead"]
    assert measured["steps_each"] == PROFILES["smoke"].overhead_steps


def test_on_gpu_the_fixed_cost_of_the_device_wait_is_counted_as_overhead(monkeypatch):
    asked = []

    def wait_cost(device, repeats=200):
        asked.append(device)
        return 1e-3

    monkeypatch.setattr(devices, "wait_cost", wait_cost)
    # GPU:0 is absent here (TensorFlow soft-places the step on the CPU): the wait is what matters.
    measured = overhead.measure(Toy(), Case("toy", "shared", "function", "GPU:0", "tiny"), PROFILES["smoke"])
    assert asked == ["GPU:0"]
    share = 1e-3 / measured["bare_median_s"]
    assert measured["device_wait_s"] == 1e-3
    assert measured["overhead"] == pytest.approx(measured["probe_overhead"] + share)
    assert measured["overhead_ci_low"] <= measured["overhead"] <= measured["overhead_ci_high"]
    assert measured["within_limit"] is (measured["overhead"] < overhead.LIMIT)
