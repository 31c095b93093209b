"""Deterministic outcomes of the py_function_in_loop scenario: what an eager tf.py_function call
keeps in TF 2.21 (a function on the default graph, a registration, a cached kernel), what
tf.numpy_function and the fixes keep, and that nothing retraces or keeps threads or files."""

import functools
import gc

import keras
import pytest
import tensorflow as tf
from tensorflow.python.ops import script_ops

from tfreuse.core.schema import RETAINED_TOLERANCE_BYTES
from tfreuse.engine.harness import Case, Context
from tfreuse.probes.memory import retained_bytes

from benchmarks import test_py_function_in_loop
from tests.fakes import SCENARIO_PROFILE, run_scenario

pytestmark = pytest.mark.slow  # every test steps the scenario's variants with real TensorFlow

SCENARIO = test_py_function_in_loop.PyFunctionInLoop()
SIZE = SCENARIO.sizes["small"]
RUNS = [(c.variant, c.mode) for c in SCENARIO.cases(["CPU:0"]) if SCENARIO.skip_reason(c.variant, c.mode) is None]
STEPS = 20


@functools.cache
def run(variant, mode):
    return run_scenario(SCENARIO, variant, mode)


def make_step(variant, mode):
    case = Case(SCENARIO.name, variant, mode, "CPU:0", "small")
    step = SCENARIO.make_step(Context(case, SIZE, SCENARIO_PROFILE))
    step()  # the first call: a tf.function's trace
    return step


def kept_per_step(variant, mode, count, steps=STEPS):
    """How much `count()` grows per step over `steps` steps after the first."""
    step = make_step(variant, mode)
    before = count()
    for _ in range(steps):
        step()
    return (count() - before) / steps


def functions_on_default_graph() -> int:
    """Python functions the default graph keeps alive for tf.py_function (`_py_funcs_used_in_graph`,
    private: where `script_ops._internal_py_func` appends them)."""
    return len(getattr(tf.compat.v1.get_default_graph(), "_py_funcs_used_in_graph", []))


def registered_functions() -> int:
    """Functions still registered for tf.py_function (private: `script_ops._py_funcs` holds them
    weakly, so an entry lives as long as something else keeps its function)."""
    gc.collect()
    return len(script_ops._py_funcs._funcs)


@pytest.mark.parametrize("variant, mode, kept", [
    ("py_function_per_step", "eager", 1), ("py_function_per_step", "function", 1),
    ("numpy_function_per_step", "eager", 0), ("shared", "eager", 0),
    ("mitigated_in_tf_function", "function", 0),
    ("mitigated_clear_session", "eager", 0),  # each step's default graph is a new, empty one
])
def test_an_eager_py_function_call_leaves_its_function_on_the_default_graph(variant, mode, kept):
    assert kept_per_step(variant, mode, functions_on_default_graph) == kept


@pytest.mark.parametrize("variant, mode, kept", [
    ("py_function_per_step", "eager", 1), ("numpy_function_per_step", "eager", 0), ("shared", "eager", 0),
    ("mitigated_in_tf_function", "function", 0),
    # The new default graph lets go of the function, but `standardize` reaches every call's
    # wrapper through the chain of `ag_dnc_wrapper__` attributes its wrappers copy.
    ("mitigated_clear_session", "eager", 1),
])
def test_every_eager_py_function_call_stays_registered(variant, mode, kept):
    assert kept_per_step(variant, mode, registered_functions) == kept


def test_an_eager_numpy_function_is_a_plain_call():
    x = tf.ones((2, 3))
    before = registered_functions()
    assert tf.numpy_function(test_py_function_in_loop.standardize, [x], tf.float32).shape == (2, 3)
    assert registered_functions() == before


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_an_eager_py_function_call_keeps_more_than_the_tolerance_per_step(mode):
    # Mostly the kernel the eager runtime caches for each call's new `token` attribute.
    assert run("py_function_per_step", mode)["retained_bytes_per_step"] > RETAINED_TOLERANCE_BYTES


@pytest.mark.parametrize("variant, mode", [("shared", "eager"), ("shared", "function"),
                                           ("numpy_function_per_step", "eager"),
                                           ("numpy_function_per_step", "function"),
                                           ("mitigated_in_tf_function", "function")])
def test_plain_python_numpy_function_and_one_tf_function_keep_nothing_per_step(variant, mode):
    assert run(variant, mode)["retained_bytes_per_step"] < RETAINED_TOLERANCE_BYTES


def _clear_every_step(clear):
    x = tf.random.normal((SIZE["batch"], SIZE["features"]))
    for _ in range(3):
        tf.py_function(test_py_function_in_loop.standardize, [x], tf.float32)
        clear()
    gc.freeze()  # as the harness does before a case: each collection then walks only the new objects
    before = retained_bytes()
    for _ in range(STEPS):
        tf.py_function(test_py_function_in_loop.standardize, [x], tf.float32)
        clear()
    return (retained_bytes() - before) / STEPS


def test_clear_session_frees_the_cached_kernels_reset_default_graph_alone_does_not():
    assert _clear_every_step(keras.backend.clear_session) < RETAINED_TOLERANCE_BYTES
    assert _clear_every_step(tf.compat.v1.reset_default_graph) > RETAINED_TOLERANCE_BYTES
    # The harness's own window reads the same (its census leaves each replaced graph's scope).
    assert run("mitigated_clear_session", "eager")["retained_bytes_per_step"] < RETAINED_TOLERANCE_BYTES


@pytest.mark.parametrize("variant, mode", RUNS)
def test_no_variant_retraces_makes_variables_or_keeps_threads_or_files(variant, mode):
    record = run(variant, mode)
    assert record["first_step_trace_events"] == (1 if mode == "function" else 0)
    assert (record["trace_events"], record["variables_created"]) == (0, 0)
    assert (record["threads_per_step"], record["descriptors_per_step"]) == (0.0, 0.0)
