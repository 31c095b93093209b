"""Deterministic outcomes of the fit_in_loop scenario: what each per-batch call builds, that nothing
retraces or makes variables, no descriptor or thread kept, and that every fix keeps learning."""

import collections
import functools

import keras
import pytest
import tensorflow as tf

from tfreuse.engine.harness import Case, Context

from benchmarks import test_fit_in_loop
from tests.fakes import SCENARIO_PROFILE, run_scenario

pytestmark = pytest.mark.slow  # every test steps the scenario's variants with real TensorFlow

SCENARIO = test_fit_in_loop.FitInLoop()
PER_CALL = ["fit_per_batch", "evaluate_per_batch", "mitigated_clear_session", "mitigated_run_eagerly"]
REUSING = ["shared", "mitigated_on_batch"]


run = run_scenario


# A case of this scenario takes a second or two (a fit per step): several tests read one case.
run_once = functools.cache(run)


def ran(variant):
    """The modes `variant` runs in."""
    return [mode for mode in SCENARIO.modes if SCENARIO.skip_reason(variant, mode) is None]


def made_per_step(monkeypatch, variant, mode, steps=3):
    """tf.data iterators and `History` callbacks made per step of `variant`, after its first step.

    Counted through public classes: `tf.data.Dataset.__iter__` (every iterator over a dataset,
    Keras' own included) and `keras.callbacks.History.__init__`.
    """
    ctx = Context(Case(SCENARIO.name, variant, mode, "CPU:0", "small"), SCENARIO.sizes["small"], SCENARIO_PROFILE)
    step = SCENARIO.make_step(ctx)
    step()
    made = collections.Counter()
    new_iterator, new_history = tf.data.Dataset.__iter__, keras.callbacks.History.__init__

    def counting_iterator(self):
        made["iterators"] += 1
        return new_iterator(self)

    def counting_history(self, *args, **kwargs):
        made["histories"] += 1
        new_history(self, *args, **kwargs)

    monkeypatch.setattr(tf.data.Dataset, "__iter__", counting_iterator)
    monkeypatch.setattr(keras.callbacks.History, "__init__", counting_history)
    for _ in range(steps):
        step()
    return {kind: made[kind] / steps for kind in ("iterators", "histories")}


@pytest.mark.parametrize("variant, mode", [(v, m) for v in PER_CALL for m in ran(v)])
def test_fit_and_evaluate_build_a_dataset_pipeline_every_call(monkeypatch, variant, mode):
    # Keras 3.15 iterates each call's new dataset twice (its epoch iterator's reset, then the epoch).
    assert made_per_step(monkeypatch, variant, mode)["iterators"] >= 1


@pytest.mark.parametrize("variant, mode", [(v, m) for v in REUSING for m in ran(v)])
def test_the_reusing_variants_build_no_pipeline_after_the_first_step(monkeypatch, variant, mode):
    assert made_per_step(monkeypatch, variant, mode) == {"iterators": 0, "histories": 0}


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_fit_attaches_a_new_history_every_call_and_evaluate_none(monkeypatch, mode):
    # keras-team/keras#20779 stopped `evaluate` (and `predict`) from making a History.
    assert made_per_step(monkeypatch, "fit_per_batch", mode)["histories"] == 1
    assert made_per_step(monkeypatch, "evaluate_per_batch", mode)["histories"] == 0


@pytest.mark.parametrize("variant, mode", [(v, m) for v in SCENARIO.variants for m in ran(v)])
def test_no_variant_retraces_or_makes_variables_after_its_first_step(variant, mode):
    # The per-call cost is set-up work (adapter, pipeline, iterator, callbacks), not retracing:
    # Keras keeps its train and test functions between calls.
    record = run_once(SCENARIO, variant, mode)
    assert (record["trace_events"], record["variables_created"], record["live_variables_delta"]) == (0, 0, 0)
    assert record["first_step_trace_events"] == (1 if mode == "function" and variant != "mitigated_run_eagerly"
                                                  else 0)


@pytest.mark.parametrize("variant, mode", [(v, m) for v in ("fit_per_batch", "evaluate_per_batch") for m in ran(v)])
def test_the_per_call_set_up_keeps_no_descriptor_or_thread(variant, mode):
    # keras-team/keras#20779's callback thread pool is gone: Keras' TensorFlow backend is not
    # declared thread-safe, so its callbacks never run on a thread.
    record = run_once(SCENARIO, variant, mode)
    assert (record["descriptors_per_step"], record["threads_per_step"]) == (0.0, 0.0)


@pytest.mark.parametrize("variant, mode", [(v, m) for v in SCENARIO.variants for m in ran(v)])
def test_every_variant_learns_as_shared_does(variant, mode):
    # Same batches in the same order, one SGD step each: fit's shuffling of a one-batch call
    # reorders rows within the batch only.
    record = run_once(SCENARIO, variant, mode)
    assert record["loss_final"] < record["loss_initial"]
    assert record["learning_retained"] == pytest.approx(1.0, abs=1e-4)
