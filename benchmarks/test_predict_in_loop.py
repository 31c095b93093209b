"""Predict in a loop: `model.predict(x)` on every small batch, versus calling the model.

`predict` is made for big inputs: every call builds a data adapter, an iterator over a
tf.data dataset and a callback list before it runs Keras' predict function, which the Keras
docs say is not meant for loops. Reported in tensorflow/tensorflow#40261 (100 calls: 3.5 s
against 0.013 s) and keras-team/keras#13118 (memory grows with every call).

One step is one 8-row batch through a 2-layer MLP made once.
- `shared`: the model called through one function made once (`Context.compile`: the bare call
  in eager mode, one tf.function in function mode);
- `predict_per_batch`: `model.predict(x, verbose=0)` per batch (the user's loop);
- `mitigated_predict_on_batch`: `model.predict_on_batch(x)`, the Keras API for one batch;
- `mitigated_direct_call`: `model(x, training=False)`, called eagerly.

Mode is Keras' setting for `predict` and `predict_on_batch` (`run_eagerly=True` in eager mode,
its tf.function in function mode) and `Context.compile`'s for `shared`. In eager mode
`mitigated_direct_call` is the `shared` step itself, so it runs in function mode only.
"""

import tensorflow as tf

from tfreuse import KERAS_MODE_PHRASES, Scenario, Step, Variant, benchmark_test
from tfreuse.scenarios.keras_models import keras_execution, mlp, regression
from tfreuse.scenarios.layer_reuse import param_bytes


class PredictInLoop(Scenario):
    name = "predict_in_loop"
    variants = {
        "shared": Variant.baseline("the model called through one tf.function made once"),
        "predict_per_batch": "calling model.predict on every small batch",
        "mitigated_predict_on_batch": Variant.fix("model.predict_on_batch on every small batch"),
        "mitigated_direct_call": Variant.fix("calling the model eagerly on every small batch"),
    }
    mode_phrases = KERAS_MODE_PHRASES
    modes = ("eager", "function")
    sizes = {"small": {"batch": 8, "features": 16, "hidden": 32, "outputs": 4}}
    skips = {("mitigated_direct_call", "eager"): "in eager mode the direct call is the shared "
                                                 "step itself (no tf.function to skip)"}

    @staticmethod
    def _model(ctx):
        """The model, compiled so `predict` runs as the mode says, and one batch (a tensor)."""
        model = mlp(ctx.params, ctx.trace_counter())
        model.compile(loss="mse", **keras_execution(ctx.mode))
        x, _ = regression(ctx.params, rows_key="batch")
        return model, tf.constant(x)

    def _step(self, run, model) -> Step:
        return Step(run, figures=lambda: {"param_bytes": param_bytes(model)})

    def shared(self, ctx):
        """The model called through one function made once."""
        model, x = self._model(ctx)

        def infer(x):
            return model(x, training=False)

        forward = ctx.compile(infer)
        return self._step(lambda: forward(x), model)

    def predict_per_batch(self, ctx):
        """`model.predict` on every batch (timed: its data adapter, iterator and callbacks too)."""
        model, x = self._model(ctx)
        return self._step(lambda: model.predict(x, verbose=0), model)

    def mitigated_predict_on_batch(self, ctx):
        """`model.predict_on_batch` on every batch."""
        model, x = self._model(ctx)
        return self._step(lambda: model.predict_on_batch(x), model)

    def mitigated_direct_call(self, ctx):
        """`model(x, training=False)`, called eagerly on every batch."""
        model, x = self._model(ctx)
        return self._step(lambda: model(x, training=False), model)


test_predict_in_loop = benchmark_test(PredictInLoop())
