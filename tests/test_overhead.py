"""The harness-overhead check: what it times, and that a GPU's device wait is counted in it."""

import pytest

from tfreuse.core import devices
from tfreuse.core.profiles import PROFILES
from tfreuse.engine import overhead
from tfreuse.engine.harness import Case

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
        return 1.0  # a second per wait: far more than the toy step itself

    monkeypatch.setattr(devices, "wait_cost", wait_cost)
    # GPU:0 is absent here (TensorFlow soft-places the step on the CPU): the wait is what matters.
    measured = overhead.measure(Toy(), Case("toy", "shared", "function", "GPU:0", "tiny"), PROFILES["smoke"])
    assert asked == ["GPU:0"] and measured["device_wait_s"] == 1.0
    assert measured["bare_median_s"] < 0.1  # so the wait alone is over 10 times the step
    assert measured["overhead"] - measured["probe_overhead"] == pytest.approx(1.0 / measured["bare_median_s"])
    assert measured["overhead_ci_low"] <= measured["overhead"] <= measured["overhead_ci_high"]
    assert measured["overhead"] > 10 and measured["within_limit"] is False
