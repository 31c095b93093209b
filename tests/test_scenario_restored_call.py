"""Deterministic outcomes of the restored_call scenario: traces of a loaded SavedModel's restored
`__call__` and its signature, refusals, and what the saved functions compute."""

import functools

import numpy as np
import pytest
import tensorflow as tf

from benchmarks import test_restored_call
from tests.fakes import SCENARIO_PROFILE, run_scenario

pytestmark = pytest.mark.slow  # every test loads SavedModels and steps them with real TensorFlow

SCENARIO = test_restored_call.RestoredCall()
SIZE = SCENARIO.sizes["small"]
NOT_FOUND = "Could not find matching concrete function to call loaded from the SavedModel"


@functools.cache
def run(variant, mode):
    return run_scenario(SCENARIO, variant, mode)


def test_the_restored_call_traces_every_new_batch_size_eagerly():
    record = run("restored_call", "eager")
    assert record["first_step_trace_events"] == 1
    assert record["trace_events"] == record["tracing_cache_delta"] == SCENARIO_PROFILE.rounds
    assert record["traces_per_step"] == 1.0
    assert record["cache_entries_per_step"] == 1.0


def test_inside_a_none_batch_tf_function_the_restored_call_is_traced_once():
    record = run("restored_call", "function")
    assert (record["first_step_trace_events"], record["trace_events"]) == (2, 0)  # the server's and the restored


@pytest.mark.parametrize("mode, first_traces", [("eager", 0), ("function", 1)])
def test_the_serving_signature_is_never_traced(mode, first_traces):
    record = run("shared", mode)
    assert (record["first_step_trace_events"], record["trace_events"]) == (first_traces, 0)
    assert record["cache_entries_per_step"] == 0.0


@pytest.mark.parametrize("mode, first_traces", [("eager", 1), ("function", 2)])
def test_an_input_signature_given_before_saving_traces_the_restored_call_once(mode, first_traces):
    record = run("mitigated_input_signature", mode)
    assert (record["first_step_trace_events"], record["trace_events"]) == (first_traces, 0)


@pytest.mark.parametrize("variant, mode", [("restored_call_unseen_batch", "eager"),
                                           ("restored_call_python_arg", "eager"),
                                           ("restored_call_python_arg", "function")])
def test_an_input_the_model_was_not_saved_for_is_refused(variant, mode):
    record = run(variant, mode)
    assert (record["outcome"], record["error_type"]) == ("error", "ValueError")
    assert record["error_message"].startswith(NOT_FOUND)


def test_inside_a_none_batch_tf_function_the_one_batch_model_serves_every_batch():
    record = run("restored_call_unseen_batch", "function")
    assert (record["outcome"], record["trace_events"]) == ("ok", 0)


def _load(how):
    return tf.saved_model.load(str(SCENARIO.saved_model(SIZE, how)))


def test_every_saved_model_computes_the_same_function():
    x = tf.random.stateless_normal((test_restored_call.SAVED_AFTER_ROWS, SIZE["features"]), seed=(1, 2))
    signed = _load("signatures")
    expected = signed.signatures["serving_default"](x)["output_0"].numpy()
    for output in (signed(x), _load("one_batch")(x), _load("input_signature")(x)):
        np.testing.assert_allclose(output.numpy(), expected, rtol=1e-6)


def test_the_one_batch_model_refuses_other_batch_sizes_and_python_values():
    one_batch, signed = _load("one_batch"), _load("signatures")
    with pytest.raises(ValueError, match=NOT_FOUND):
        one_batch(tf.ones((test_restored_call.SAVED_AFTER_ROWS + 1, SIZE["features"])))
    with pytest.raises(ValueError, match=NOT_FOUND):
        signed(tf.ones((2, SIZE["features"])), temperature=2.0)


def test_a_keras_export_serves_every_batch_size_from_one_trace(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((SIZE["features"],)), keras.layers.Dense(SIZE["outputs"])])
    model.export(str(tmp_path / "exported"), verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "exported"))
    for rows in (1, 2, 3):
        loaded.serve(tf.ones((rows, SIZE["features"])))
    assert loaded.serve.experimental_get_tracing_count() == 1
    assert "serving_default" in loaded.signatures
    assert not callable(loaded)


def test_only_an_input_signature_given_before_saving_comes_back_on_the_restored_call():
    spec = (tf.TensorSpec((None, SIZE["features"]), tf.float32),)
    assert _load("input_signature").__call__.input_signature == spec
    assert _load("signatures").__call__.input_signature is None  # a `signatures=` export: only a signature
    assert list(_load("one_batch").signatures) == []
