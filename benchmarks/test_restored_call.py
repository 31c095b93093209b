"""Restored call: a loaded SavedModel called through its restored `__call__`, versus its signature.

`tf.saved_model.load` gives back each saved tf.function as a restored function that holds only
the concrete functions traced before saving. Called with an input it was not saved for, it
either traces again (a wrapper around the saved concrete functions, one trace per new input
signature, each kept) or refuses: "Could not find matching concrete function to call loaded
from the SavedModel". `loaded.signatures["serving_default"]` is one concrete function with a
`None` batch dimension: no tracing, no refusal. Reported in tensorflow/tensorflow#39369
(TF 2.1: a model saved with a `None`-batch signature and loaded back traced once per batch
size) and #37858 (TF 2.1: a loaded Keras model retraced, "5 out of the last 5 calls to
<function recreate_function.<locals>.restored_function_body> triggered tf.function retracing",
even with an input_signature).

The served model is a `tf.Module` whose `__call__` is a tf.function `relu(x @ w1 + b1) @ w2 /
temperature` (`temperature` a Python number, 1.0 by default), its weights seeded. It is saved
once per process into a temporary folder three ways, and each case loads its SavedModel once,
outside the timer. One step is one request: a batch one row longer than the last (slices of one
tensor made once), through the loaded model.
- `shared`: the SavedModel exported with `signatures=` a concrete function of a `None`-batch
  `TensorSpec`, called through `loaded.signatures["serving_default"]`;
- `restored_call`: the same SavedModel called through `loaded(x)`: its restored `__call__` has
  no input signature, so every new batch size is traced again (eagerly), although it then runs
  the saved `None`-batch concrete function: what #39369 reported, still so in TF 2.21 when the
  signature was given as `signatures=`;
- `restored_call_unseen_batch`: a SavedModel saved without a signature after one 8-row call:
  its only concrete function takes 8 rows, so eagerly TensorFlow refuses any other batch size
  (`ValueError`, a recorded refusal);
- `restored_call_python_arg`: the `shared` SavedModel given a new Python `temperature` on every
  request: the saved function knows only the default, so TensorFlow refuses (`ValueError`, a
  recorded refusal, in both modes);
- `mitigated_input_signature`: the disputed fix, the `__call__` given an `input_signature` with
  a `None` batch dimension before saving: in TF 2.21 the restored `__call__` takes that input
  signature, is traced once and serves every batch size (#37858 saw retracing "even with
  input_signature" in 2.1).
Besides traces, a retrace keeps its graph: retained bytes per step. Every batch size a case can
meet is run once per process before the first case (oneDNN keeps a kernel per input shape), so
the figures are the call's, not the first kernel's.

Mode is how a request calls the model: `eager` calls it directly, `function` through one
tf.function made at start-up (`Context.compile`) with a `None`-batch input_signature, so the
restored function is traced once, with an unknown batch: there `restored_call` does not retrace
and `restored_call_unseen_batch` runs (its 8-row concrete function accepts any batch at run
time). A Keras model's `model.export` writes a `serve` endpoint with a `None`-batch
input_signature: it behaves as `mitigated_input_signature` (checked in
tests/test_scenario_restored_call.py); the loaded archive is not callable itself.
Traces of a restored function are read from its cache (a restored function creates no
variables, so each trace is one entry); the reuse guard does not see them (TensorFlow defines
its body), only the memory each trace keeps.
"""

import itertools
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfreuse import Scenario, Step, Variant, benchmark_test

SAVED_SEED = 11
SAVED_AFTER_ROWS = 8  # the one batch `restored_call_unseen_batch`'s model saw before saving
# Longer than any case's steps (at most ~45), so every step gets a batch size of its own.
MAX_ROWS = 256


class _RestoredTraces:
    """A restored function's traces, for the harness's trace figures: its cache entries (a
    restored function makes no variables, so each trace adds exactly one)."""

    def __init__(self, function):
        self._function = function

    @property
    def cache_size(self) -> int:
        return self._function.experimental_get_tracing_count()

    @property
    def trace_events(self) -> int:
        return self.cache_size


def _served_module(size, input_signature=None) -> tf.Module:
    """The served MLP as a `tf.Module` with a tf.function `__call__` (seeded weights)."""
    rng = np.random.default_rng(SAVED_SEED)
    module = tf.Module()

    def weight(*shape):
        return tf.Variable(rng.normal(0, 0.3, shape).astype("float32"))

    module.w1 = weight(size["features"], size["hidden"])
    module.b1 = weight(size["hidden"])
    module.w2 = weight(size["hidden"], size["outputs"])

    def forward(x, temperature=1.0):
        return tf.nn.relu(x @ module.w1 + module.b1) @ module.w2 / temperature

    module.__call__ = tf.function(forward, input_signature=input_signature)
    return module


def _batch_spec(size) -> tf.TensorSpec:
    return tf.TensorSpec((None, size["features"]), tf.float32)


class RestoredCall(Scenario):
    name = "restored_call"
    variants = {
        "shared": Variant.baseline("the SavedModel's serving_default signature, one concrete function "
                                   "for every batch size"),
        "restored_call": "calling the restored __call__ with a new batch size every step",
        "restored_call_unseen_batch": "calling a restored __call__ saved after one batch with a new batch size",
        "restored_call_python_arg": "passing a new Python number to the restored __call__ every step",
        "mitigated_input_signature": Variant.fix("the restored __call__ of a tf.function saved with a "
                                                 "None-batch input_signature",
                                                 restores=("time", "traces", "memory")),
    }
    modes = ("eager", "function")
    sizes = {"small": {"features": 16, "hidden": 32, "outputs": 4}}
    expected_errors = {
        ("restored_call_unseen_batch", "eager"): ValueError,
        ("restored_call_python_arg", "eager"): ValueError,
        ("restored_call_python_arg", "function"): ValueError,
    }

    def __init__(self):
        self._folder = tempfile.TemporaryDirectory(prefix="tfreuse-saved-model-")
        self._saved: dict[tuple, Path] = {}
        self._warmed: set[tuple] = set()

    def saved_model(self, size, how: str) -> Path:
        """The SavedModel folder of the served module for `size`, saved `how` (once per process):
        `signatures` (a `None`-batch serving signature), `one_batch` (no signature, after one
        8-row call) or `input_signature` (its `__call__` with a `None`-batch input_signature)."""
        key = (how, *sorted(size.items()))
        if key not in self._saved:
            path = Path(self._folder.name) / f"{how}-{len(self._saved)}"
            if how == "input_signature":
                tf.saved_model.save(_served_module(size, [_batch_spec(size)]), str(path))
            elif how == "one_batch":
                module = _served_module(size)
                module.__call__(tf.zeros((SAVED_AFTER_ROWS, size["features"])))
                tf.saved_model.save(module, str(path))
            else:
                module = _served_module(size)
                serving = module.__call__.get_concrete_function(_batch_spec(size))
                tf.saved_model.save(module, str(path), signatures=serving)
            self._saved[key] = path
        return self._saved[key]

    def _warm_batch_sizes(self, size, rows) -> None:
        """Run the model once on every batch size a case can meet (once per process): oneDNN
        keeps a kernel per input shape (~60 KB each here), which would otherwise be counted as
        memory kept, and time spent, by whichever case meets a batch size first."""
        key = tuple(sorted(size.items()))
        if key not in self._warmed:
            forward = _served_module(size, [_batch_spec(size)]).__call__
            for length in range(1, MAX_ROWS + 1):
                forward(rows[:length])
            self._warmed.add(key)

    def _requests(self, ctx, how: str, call_of) -> Step:
        """Requests of 1, 2, 3... rows through `call_of(loaded)`, the SavedModel saved `how` and
        loaded (outside the timer): called directly (eager) or through one tf.function with a
        `None`-batch input_signature (function)."""
        loaded = tf.saved_model.load(str(self.saved_model(ctx.params, how)))
        if callable(loaded):
            ctx.functions.append(_RestoredTraces(loaded.__call__))
        serve = ctx.compile(call_of(loaded), input_signature=[_batch_spec(ctx.params)])
        rows = tf.random.normal((MAX_ROWS, ctx.params["features"]))
        self._warm_batch_sizes(ctx.params, rows)
        lengths = itertools.count(1)

        def request():
            # `loaded` held by the step: a signature alone does not keep the loaded variables
            # alive ("Called a function referencing variables which have been deleted").
            return serve(rows[:next(lengths) % MAX_ROWS + 1]), loaded

        return Step(request)

    def shared(self, ctx):
        """`loaded.signatures["serving_default"]`: one concrete function, never traced."""
        def call_of(loaded):
            serving = loaded.signatures["serving_default"]

            def call(x):
                return serving(x)["output_0"]
            return call

        return self._requests(ctx, "signatures", call_of)

    @staticmethod
    def _restored(loaded):
        def call(x):
            return loaded(x)
        return call

    def restored_call(self, ctx):
        """`loaded(x)`: the restored `__call__`, traced for every new batch size (eager)."""
        return self._requests(ctx, "signatures", self._restored)

    def restored_call_unseen_batch(self, ctx):
        """`loaded(x)` of a module saved after one 8-row call: refused for other batch sizes (eager)."""
        return self._requests(ctx, "one_batch", self._restored)

    def restored_call_python_arg(self, ctx):
        """`loaded(x, temperature=t)` with a new Python `t` per request: refused."""
        temperatures = itertools.count(2)

        def call_of(loaded):
            def call(x):
                return loaded(x, temperature=float(next(temperatures)))
            return call

        return self._requests(ctx, "signatures", call_of)

    def mitigated_input_signature(self, ctx):
        """`loaded(x)` of a `__call__` saved with a `None`-batch input_signature: traced once."""
        return self._requests(ctx, "input_signature", self._restored)


test_restored_call = benchmark_test(RestoredCall())
