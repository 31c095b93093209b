"""Deterministic outcomes of random_in_loop: kernels kept per eager draw, variables, refusals,
traces, and which variants draw the same noise every step."""

import functools

import numpy as np
import pytest
import tensorflow as tf

from tfreuse.engine.harness import Case, Context

from benchmarks import test_random_in_loop
from tests.fakes import SCENARIO_PROFILE, run_scenario

pytestmark = pytest.mark.slow  # every test steps the scenario's variants with real TensorFlow

SCENARIO = test_random_in_loop.RandomInLoop()
# Two new kernels a step (the normal and the uniform draw) measure about 73 KB here; every variant
# that keeps none stays near 1 KB. The bounds sit far from both.
KERNELS_KEPT = 30_000
NOTHING_KEPT = 10_000
VARIANTS_THAT_RUN_IN_FUNCTION_MODE = ("shared", "seeded_random_ops", "mitigated_stateless", "mitigated_op_seed",
                                      "mitigated_reseed")


run = run_scenario


run_once = functools.cache(run)


def two_steps(variant, mode):
    """The outputs of a fresh step of `variant` called twice."""
    ctx = Context(Case(SCENARIO.name, variant, mode, "CPU:0", "small"), SCENARIO.sizes["small"], SCENARIO_PROFILE)
    step = SCENARIO.make_step(ctx)
    return np.array(step()), np.array(step())


def test_eager_draws_without_op_seeds_keep_a_kernel_per_draw():
    assert run_once(SCENARIO, "seeded_random_ops", "eager")["retained_bytes_per_step"] > KERNELS_KEPT


@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("variant", ["shared", "mitigated_stateless", "mitigated_op_seed", "mitigated_reseed"])
def test_a_generator_stateless_ops_op_seeds_or_reseeding_keep_no_kernel(variant, mode):
    assert run_once(SCENARIO, variant, mode)["retained_bytes_per_step"] < NOTHING_KEPT


def test_inside_tf_function_the_op_seeds_are_fixed_at_trace_so_nothing_is_kept():
    record = run_once(SCENARIO, "seeded_random_ops", "function")
    assert record["retained_bytes_per_step"] < NOTHING_KEPT
    assert (record["first_step_trace_events"], record["trace_events"]) == (1, 0)


@pytest.mark.parametrize("variant", VARIANTS_THAT_RUN_IN_FUNCTION_MODE)
def test_every_variant_that_runs_in_tf_function_traces_once(variant):
    """Setting the seed again clears kernels, not tf.function's own cache: no retrace either."""
    record = run_once(SCENARIO, variant, "function")
    assert (record["first_step_trace_events"], record["trace_events"]) == (1, 0)
    assert record["variables_created"] == 0


def test_a_generator_per_eager_step_makes_its_state_variable_every_step():
    record = run_once(SCENARIO, "generator_per_step", "eager")
    assert record["variables_created_per_step"] == 1.0
    assert record["variables_created"] == SCENARIO_PROFILE.rounds


def test_tf_function_refuses_a_generator_made_in_the_step():
    record = run_once(SCENARIO, "generator_per_step", "function")
    assert (record["outcome"], record["error_type"]) == ("error", "ValueError")
    assert "singleton tf.Variables" in record["error_message"]


@pytest.mark.parametrize("variant, mode", [("generator_per_step", "eager"), ("mitigated_reseed", "eager"),
                                           ("mitigated_reseed", "function")])
def test_a_generator_from_the_same_seed_or_reseeding_draws_the_same_noise_every_step(variant, mode):
    first, second = two_steps(variant, mode)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("variant", ["shared", "seeded_random_ops", "mitigated_stateless", "mitigated_op_seed"])
def test_the_other_variants_draw_new_noise_every_step(variant, mode):
    first, second = two_steps(variant, mode)
    assert not np.array_equal(first, second)


def test_the_dropout_keeps_about_the_rate_and_scales_what_it_keeps():
    first, _ = two_steps("shared", "eager")
    rate = SCENARIO.sizes["small"]["rate"]
    assert abs(np.mean(first == 0) - rate) < 0.1


def test_a_new_python_scalar_per_step_would_keep_memory_of_its_own():
    """Why `mitigated_stateless` passes its seed as a list: eager TensorFlow keeps every Python
    scalar it has converted (keyed by value); a list is not kept."""
    from tfreuse.probes.memory import RetainedWindow  # the harness's own reading of bytes in use

    def kept_per_conversion(convert, per_sample=100):
        values = iter(range(1000, 10_000))
        with RetainedWindow("CPU:0") as window:
            for _ in range(8):
                for _ in range(per_sample):
                    convert(next(values))
                window.sample()
        return window.retained_per_step / per_sample

    assert kept_per_conversion(lambda value: tf.constant(value, tf.int64)) > 300
    assert kept_per_conversion(lambda value: tf.constant([0, value], tf.int64)) < 30
