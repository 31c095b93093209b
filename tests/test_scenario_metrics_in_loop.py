"""Deterministic outcomes of the metrics_in_loop scenario: variables and traces per step, the refusal
inside tf.function, and the values each variant reports."""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfreuse.engine.harness import Case, Context

from benchmarks import test_metrics_in_loop
from tests.fakes import SCENARIO_PROFILE, run_scenario

pytestmark = pytest.mark.slow  # every test steps the scenario's variants with real TensorFlow

SCENARIO = test_metrics_in_loop.MetricsInLoop()
# AUC: true and false positives and negatives; Mean: total and count.
VARIABLES_PER_METRIC_PAIR = 6


run = run_scenario


run_once = functools.cache(run)


def ran(*variants):
    """(variant, mode) for every mode each of `variants` runs in."""
    return [(variant, mode) for variant in variants for mode in SCENARIO.modes
            if SCENARIO.skip_reason(variant, mode) is None and (variant, mode) not in SCENARIO.expected_errors]


def values(variant, mode, steps):
    """What `steps` steps of `variant` return: (AUC, mean loss) per step."""
    ctx = Context(Case(SCENARIO.name, variant, mode, "CPU:0", "small"), SCENARIO.sizes["small"], SCENARIO_PROFILE)
    step = SCENARIO.make_step(ctx)
    return [tuple(float(value) for value in step()) for _ in range(steps)]


REMADE = ran("metric_per_step", "mitigated_reduce_retracing", "mitigated_clear_session")


@pytest.mark.parametrize("variant, mode", REMADE)
def test_new_metrics_every_step_make_six_variables_every_step(variant, mode):
    record = run_once(SCENARIO, variant, mode)
    assert record["variables_created"] == VARIABLES_PER_METRIC_PAIR * SCENARIO_PROFILE.rounds
    assert record["variables_created_per_step"] == VARIABLES_PER_METRIC_PAIR
    assert record["live_variables_delta"] == 0  # each step's metrics die with the step


@pytest.mark.parametrize("variant", ["metric_per_step", "mitigated_reduce_retracing"])
def test_new_metric_objects_retrace_the_function_every_step(variant):
    # A Python object argument is a cache key by identity; reduce_retracing generalises shapes only.
    record = run_once(SCENARIO, variant, "function")
    assert record["trace_events"] == record["tracing_cache_delta"] == SCENARIO_PROFILE.rounds
    assert (record["traces_per_step"], record["cache_entries_per_step"]) == (1.0, 1.0)


@pytest.mark.parametrize("variant, mode", ran("shared", "mitigated_reset_state"))
def test_metrics_made_once_neither_retrace_nor_make_variables(variant, mode):
    record = run_once(SCENARIO, variant, mode)
    assert (record["trace_events"], record["variables_created"]) == (0, 0)
    assert record["first_step_trace_events"] == (1 if mode == "function" else 0)


def test_tf_function_refuses_metrics_made_inside_it():
    record = run_once(SCENARIO, "metric_in_function", "function")
    assert (record["outcome"], record["error_type"]) == ("error", "ValueError")
    assert record["error_message"].startswith("tf.function only supports singleton tf.Variables")


@pytest.mark.parametrize("variant, mode", ran("metric_per_step"))
def test_metrics_made_per_step_keep_no_descriptor_or_thread(variant, mode):
    record = run_once(SCENARIO, variant, mode)
    assert (record["descriptors_per_step"], record["threads_per_step"]) == (0.0, 0.0)


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_reset_before_every_batch_reports_what_new_metrics_report(mode):
    batches = SCENARIO.sizes["small"]["batches"]
    assert values("mitigated_reset_state", mode, batches) == values("metric_per_step", mode, batches)


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_shared_reports_each_epochs_running_values(mode):
    batches = test_metrics_in_loop.MetricsInLoop._batches(SCENARIO.sizes["small"])
    labels = np.concatenate([np.asarray(labels) for labels, _ in batches])
    scores = np.concatenate([np.asarray(scores) for _, scores in batches])
    epoch = keras.metrics.AUC()
    epoch.update_state(labels, scores)
    loss = float(tf.reduce_mean(keras.losses.binary_crossentropy(labels, scores)))
    reported = values("shared", mode, 2 * len(batches))
    per_batch = values("metric_per_step", mode, 1)
    assert reported[0] == per_batch[0]  # an epoch's first batch, right after reset_state()
    for last in (reported[len(batches) - 1], reported[-1]):  # the end of each epoch: the whole epoch
        assert last == pytest.approx((float(epoch.result()), loss), rel=1e-5)
