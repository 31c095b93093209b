"""Fit in a loop: `model.fit(x, y, epochs=1)` or `model.evaluate` called on every batch, versus once.

`fit` and `evaluate` are made for a whole dataset: every call wraps its arrays in a data adapter,
builds a tf.data pipeline (tracing its map functions) and an iterator over it, a callback list
and, for `fit`, a new `History`, before it runs the model's compiled step once. Called per batch,
as reinforcement-learning and online-learning loops do, that set-up is most of the step.
Reported in tensorflow/tensorflow#35124 (an episode of per-sample `fit` and `predict`: about
70 s, 5.5-6 s with `train_on_batch` and `predict_on_batch`) and tensorflow/tensorflow#32420
(repeated `fit` and `evaluate` calls: RAM grows, each call about 10x slower than in TF 1.x);
keras-team/keras#20779 fixed two leaks of `evaluate` (a `History` attached to the model, a
callback thread pool never shut down). With Keras 3.15's TensorFlow backend, `evaluate` makes no `History` and callbacks
never run on a thread (that backend is not declared thread-safe), so the per-call cost measured
here is time: these variants keep no descriptors and no threads per step.

One step is one batch of an online-learning loop: train a 2-layer MLP on the next 32-row batch
(SGD), then score a held-out 32-row batch, as a loop that logs its validation loss does.
- `shared`: the per-batch work of one `fit` over a dataset: one iterator over the training
  batches and one over the held-out batch, made once; each step calls the model's compiled train
  and test functions on them (`model.train_function(iterator)`, as `fit`'s own loop does);
- `fit_per_batch`: `model.fit(x, y, epochs=1, verbose=0)` on the batch (timed, with everything
  it builds), then `model.test_on_batch`;
- `evaluate_per_batch`: `model.train_on_batch`, then `model.evaluate(x, y, verbose=0)` on the
  held-out batch (timed, with everything it builds);
- `mitigated_on_batch`: `model.train_on_batch` and `model.test_on_batch`, the Keras API for one
  batch (the fix #35124 was given);
- `mitigated_clear_session`: `fit_per_batch` followed by `keras.backend.clear_session()`, the
  advice given for the memory growth; it runs `gc.collect()` and clears TensorFlow's kernel cache,
  so its steps take ~0.1-0.4 s here (the collection grows with the process's heap): essential,
  since that cost is the finding;
- `mitigated_run_eagerly`: `fit_per_batch` with the model compiled with `run_eagerly=True`,
  advice given for slow or retracing loops; `fit` does not retrace here, so it only takes the
  model's steps out of tf.function.

Every variant is trained `learning_steps` steps from the same start (`learning_retained`): the
fixes must keep learning as `shared` does.

Modes are Keras' setting (`run_eagerly=True` in eager mode, its default tf.function otherwise).
In eager mode `mitigated_run_eagerly` is `fit_per_batch` itself, and `mitigated_clear_session` is
run once, in the default mode, where users apply it. Not `jit`: the per-call set-up is Python and
tf.data work that XLA does not touch.
"""

import itertools

import keras
import tensorflow as tf

from tfreuse import KERAS_MODE_PHRASES, Scenario, Step, Variant, benchmark_test
from tfreuse.scenarios.keras_models import keras_execution, mean_squared_error, mlp, regression

LEARNING_RATE = 0.05


class FitInLoop(Scenario):
    name = "fit_in_loop"
    variants = {
        "shared": Variant.baseline("one iterator over the batches, made once and stepped a batch at a time"),
        "fit_per_batch": "calling model.fit(x, y, epochs=1) on every batch",
        "evaluate_per_batch": "calling model.evaluate on every batch",
        "mitigated_on_batch": Variant.fix("model.train_on_batch and model.test_on_batch on every batch"),
        "mitigated_clear_session": Variant.fix("keras.backend.clear_session() after every per-batch model.fit",
                                               restores=("time", "learning")),
        "mitigated_run_eagerly": Variant.fix("setting run_eagerly=True (model.fit still called on every batch)"),
    }
    mode_phrases = KERAS_MODE_PHRASES
    modes = ("eager", "function")
    sizes = {"small": {"rows": 128, "batch": 32, "features": 16, "hidden": 32, "outputs": 4}}
    skips = {
        ("mitigated_run_eagerly", "eager"): "with run_eagerly=True already, it is the fit_per_batch step itself",
        ("mitigated_clear_session", "eager"): "its cost (a gc.collect() and a cleared kernel cache, 0.1-0.4 s "
                                              "a step) is measured once, in Keras' default mode, where users "
                                              "apply it",
    }
    learning_steps = 2

    @staticmethod
    def _model(ctx, run_eagerly=None):
        """A compiled model (run as the mode says, or eagerly), the training batches in turn, the
        held-out batch and the whole training set."""
        model = mlp(ctx.params, ctx.trace_counter())
        execution = keras_execution(ctx.mode)
        if run_eagerly is not None:
            execution["run_eagerly"] = run_eagerly
        model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss="mse", **execution)
        rows, size = ctx.params["rows"], ctx.params["batch"]
        x_all, y_all = regression({**ctx.params, "rows": rows + size})  # the last batch is held out
        x, y = x_all[:rows], y_all[:rows]
        batches = [(x[i:i + size], y[i:i + size]) for i in range(0, rows, size)]
        return model, batches, (x_all[rows:], y_all[rows:]), (x, y)

    @staticmethod
    def _step(run, model, everything) -> Step:
        x, y = everything
        return Step(run, evaluate=lambda: {"loss": mean_squared_error(model, x, y)})

    def shared(self, ctx):
        """One iterator over the training batches and one over the held-out batch, made once; each
        step runs the model's train and test functions once on them (as `fit`'s loop does)."""
        model, batches, (x_val, y_val), everything = self._model(ctx)
        x, y = everything
        train = iter(tf.data.Dataset.from_tensor_slices((x, y)).batch(ctx.params["batch"]).repeat())
        held_out = iter(tf.data.Dataset.from_tensors((x_val, y_val)).repeat())
        model.make_train_function()
        model.make_test_function()

        def run():
            model.train_function(train)
            return model.test_function(held_out)

        return self._step(run, model, everything)

    def _per_batch(self, ctx, train, score, after=lambda: None, run_eagerly=None) -> Step:
        """A step that hands the next batch to `train(model, x, y)`, the held-out batch to
        `score(model, x, y)`, then calls `after()`."""
        model, batches, (x_val, y_val), everything = self._model(ctx, run_eagerly)
        turns = itertools.cycle(batches)

        def run():
            x, y = next(turns)
            train(model, x, y)
            result = score(model, x_val, y_val)
            after()
            return result

        return self._step(run, model, everything)

    @staticmethod
    def _fit(model, x, y):
        return model.fit(x, y, epochs=1, verbose=0)

    @staticmethod
    def _train_on_batch(model, x, y):
        return model.train_on_batch(x, y)

    @staticmethod
    def _test_on_batch(model, x, y):
        return model.test_on_batch(x, y)

    def fit_per_batch(self, ctx):
        """`model.fit(x, y, epochs=1)` on every batch (timed, with its adapter, pipeline, iterator,
        callbacks and History), then `test_on_batch`."""
        return self._per_batch(ctx, self._fit, self._test_on_batch)

    def evaluate_per_batch(self, ctx):
        """`train_on_batch`, then `model.evaluate` on the held-out batch (timed, with its adapter,
        pipeline, iterator and callbacks)."""
        return self._per_batch(ctx, self._train_on_batch, lambda model, x, y: model.evaluate(x, y, verbose=0))

    def mitigated_on_batch(self, ctx):
        """`train_on_batch` and `test_on_batch` on every batch."""
        return self._per_batch(ctx, self._train_on_batch, self._test_on_batch)

    def mitigated_clear_session(self, ctx):
        """`fit_per_batch`, then `keras.backend.clear_session()` (timed: its gc.collect() too)."""
        return self._per_batch(ctx, self._fit, self._test_on_batch, after=keras.backend.clear_session)

    def mitigated_run_eagerly(self, ctx):
        """`fit_per_batch` on a model compiled with `run_eagerly=True`."""
        return self._per_batch(ctx, self._fit, self._test_on_batch, run_eagerly=True)


test_fit_in_loop = benchmark_test(FitInLoop())
