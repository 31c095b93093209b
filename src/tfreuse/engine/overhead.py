"""Harness overhead: what tfreuse adds to a timed step, against a bare loop over the same step.

The bare loop is what one would time by hand: the scenario's step closure, `perf_counter()`
around each call. The harnessed step is what `run_case` hands pytest-benchmark: the same
closure behind `Step` (and the device wait, where there is one), run inside the probes (trace,
variable and memory windows) with RSS read between steps as the harness reads it. Reading RSS
happens outside the timer but slows the next step (caches), which is why it counts. Both are
timed step by step in alternating blocks, so drift hits them alike; the overhead is the ratio of
their medians minus one, with a 95% bootstrap interval. The trace counter itself costs nothing
per call (it runs only while TensorFlow traces); its wrapper is one Python call, in both paths.
On a GPU both paths wait for the device after each step (else the timer would stop before the
kernels ran); the fixed cost of that wait, measured on an idle device (`devices.wait_cost`),
is counted as harness overhead too, in full, though a hand-made GPU timing must wait somehow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from tfreuse.core import devices
from tfreuse.core.profiles import Profile
from tfreuse.engine import conditions
from tfreuse.engine.harness import Case, Context, Scenario, warm_up, with_wait
from tfreuse.probes.census import VariableWindow
from tfreuse.probes.memory import MemoryWindow, rss_bytes, sampling_interval
from tfreuse.probes.tracing import TraceWindow

LIMIT = 0.02  # the harness may add at most 2% to the cheapest shared step


def _time_steps(step: Callable[[], Any], steps: int, into: list[float],
                after_each: Callable[[], Any] | None = None) -> None:
    for _ in range(steps):
        started = time.perf_counter()
        step()
        into.append(time.perf_counter() - started)
        if after_each is not None:
            after_each()


BLOCK_STEPS = 10
# Time allowed for both paths together when a step is slow (a whole model per step): at least two
# blocks each, so a 0.3 s step costs seconds, not 2 x overhead_steps of them. Fast steps (the
# cheapest shared step of the suite is well under a millisecond) never reach it.
BUDGET_SECONDS = 10.0


def measure(scenario: Scenario, case: Case, profile: Profile) -> dict:
    """Time `case`'s step bare and harnessed, `profile.overhead_steps` each (fewer for a step too
    slow to fit BUDGET_SECONDS), in alternating blocks.

    Both paths call the same step object (two separately built copies of a step differ by a few
    percent on their own: memory placement), so only what the harness adds differs.
    """
    import tensorflow as tf

    from tfreuse.core.intervals import bootstrap_median_ratio

    params = scenario.sizes[case.size]
    conditions.prepare_case(profile.seed)
    with tf.device(case.device):
        ctx = Context(case, params, profile)
        step = scenario.make_step(ctx)
        bare = with_wait(step.run, case.device)
        harnessed = with_wait(step, case.device)
        harnessed()
        step_seconds = warm_up(harnessed, max(profile.warmup_steps, 5))
        bare_times: list[float] = []
        harness_times: list[float] = []
        every = sampling_interval(step_seconds)
        with TraceWindow(ctx.functions), MemoryWindow(case.device, every) as memory, VariableWindow():
            affordable = int(BUDGET_SECONDS / (2 * BLOCK_STEPS * max(step_seconds, 1e-9)))
            for block in range(max(2, min(profile.overhead_steps // BLOCK_STEPS, affordable))):
                if block % 2:
                    _time_steps(harnessed, BLOCK_STEPS, harness_times, memory.sample)
                    _time_steps(bare, BLOCK_STEPS, bare_times)
                else:
                    _time_steps(bare, BLOCK_STEPS, bare_times)
                    _time_steps(harnessed, BLOCK_STEPS, harness_times, memory.sample)
        sampling_started = time.perf_counter()
        for _ in range(100):
            rss_bytes()
        sampling_s = (time.perf_counter() - sampling_started) / 100
        wait_s = devices.wait_cost(case.device)
    harness_median, bare_median = float(np.median(harness_times)), float(np.median(bare_times))
    probe_overhead = harness_median / bare_median - 1
    wait_share = wait_s / bare_median
    overhead = probe_overhead + wait_share
    low, high = bootstrap_median_ratio(np.array(harness_times), np.array(bare_times))
    return {
        "case": f"{case.scenario}[{case.id}]",
        "steps_each": len(bare_times),
        "bare_median_s": bare_median,
        "harness_median_s": harness_median,
        "overhead": overhead,
        "overhead_ci_low": low - 1 + wait_share,
        "overhead_ci_high": high - 1 + wait_share,
        "probe_overhead": probe_overhead,
        "device_wait_s": wait_s,
        "limit": LIMIT,
        "within_limit": bool(overhead < LIMIT),
        "rss_sample_s": sampling_s,
        "rss_sample_every": every,
    }
