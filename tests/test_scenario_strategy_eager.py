"""Deterministic outcomes of strategy_eager: which variants trace (once, never, or every step),
threads and descriptors kept, the switch put back, and learning kept."""

import functools

import pytest
import tensorflow as tf

from tfreuse.engine.harness import Case, Context

from benchmarks import test_strategy_eager
from tests.fakes import SCENARIO_PROFILE, run_scenario

pytestmark = pytest.mark.slow  # every test steps the scenario's variants with real TensorFlow

SCENARIO = test_strategy_eager.StrategyEager()
RAN = [(case.variant, case.mode) for case in SCENARIO.cases(["CPU:0"])
       if SCENARIO.skip_reason(case.variant, case.mode) is None]


run = run_scenario


run_once = functools.cache(run)


def test_the_strategy_has_one_replica_on_the_cases_device():
    strategy = test_strategy_eager._strategy("CPU:0")
    assert strategy.num_replicas_in_sync == 1
    assert [device.split("/")[-1] for device in strategy.extended.worker_devices] == ["device:CPU:0"]


def test_the_compiled_step_traces_once():
    record = run_once(SCENARIO, "shared", "function")
    assert (record["first_step_trace_events"], record["trace_events"]) == (1, 0)


@pytest.mark.parametrize("variant, mode", [("shared", "eager"), ("eager_run", "function"),
                                           ("functions_run_eagerly", "function")])
def test_strategy_run_called_eagerly_never_traces(variant, mode):
    record = run_once(SCENARIO, variant, mode)
    assert (record["first_step_trace_events"], record["trace_events"]) == (0, 0)


def test_a_new_tf_function_per_step_traces_every_step():
    record = run_once(SCENARIO, "function_per_step", "function")
    assert record["first_step_trace_events"] == 1
    assert record["traces_per_step"] == 1.0


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_a_tf_function_replica_step_is_lifted_into_one_trace(mode):
    """TensorFlow 2.21 runs `strategy.run(tf.function)` as one tf.function of its own, kept per
    strategy and replica function: traced on the first step only, whatever the mode."""
    record = run_once(SCENARIO, "mitigated_function_step_fn", mode)
    assert (record["first_step_trace_events"], record["trace_events"]) == (1, 0)


@pytest.mark.parametrize("variant, mode", RAN)
def test_no_variant_keeps_a_variable_a_thread_or_a_descriptor_per_step(variant, mode):
    """The eager path starts a Python thread per replica on every call and joins it."""
    record = run_once(SCENARIO, variant, mode)
    assert record["variables_created"] == 0
    assert abs(record["threads_per_step"]) < 0.5
    assert abs(record["descriptors_per_step"]) < 0.5


@pytest.mark.parametrize("variant, mode", RAN)
def test_every_variant_trains_the_same_weight_as_shared(variant, mode):
    record = run_once(SCENARIO, variant, mode)
    assert record["loss_final"] < 0.1 * record["loss_initial"]
    assert record["learning_retained"] == pytest.approx(1.0, abs=1e-4)


def test_running_functions_eagerly_is_switched_off_again_after_every_step():
    case = Case(SCENARIO.name, "functions_run_eagerly", "function", "CPU:0", "small")
    step = SCENARIO.make_step(Context(case, SCENARIO.sizes["small"], SCENARIO_PROFILE))
    step()
    assert not tf.config.functions_run_eagerly()
