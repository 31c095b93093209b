"""Model in a loop: a new Keras model built, compiled and fit for every trial of a search.

Hyperparameter search and k-fold cross-validation run many short trainings; the usual code makes
a new model for each. Reported in keras-team/keras#2102 (memory grows with every model),
keras-team/tf-keras#286 ("clear_session() does not help") and keras-team/keras#21090 (about
50 MB per `.fit()` on Keras 3.9).

One step is one trial: a 2-layer MLP fit for one epoch of two batches, at the trial's learning
rate (three rates in turn).
- `shared`: one model, built and compiled once; each trial re-draws its weights from their
  initializers and sets the learning rate (the re-draw and the fit are timed);
- `reinstantiated`: a new model per trial, built, compiled and fit (all timed): Keras makes and
  traces a new train function for it;
- `mitigated_clear_session`: the same, after `keras.backend.clear_session()` (which, in Keras 3,
  also runs `gc.collect()`), the advice the issues give;
- `mitigated_gc_collect`: the same, after `gc.collect()` alone (the other advice: drop the old
  model and collect).

`clear_session()` replaces TensorFlow's default graph, where variable creator scopes live; the
variable census follows it to the new graph, so `mitigated_clear_session` counts the same 8
variables per trial as `reinstantiated` (4 weights, SGD's 2, the loss tracker's 2).

Mode: only `function`, Keras' default (its train step runs as a tf.function). The loop around
`fit` is Python in every mode; `run_eagerly=True` is a debugging setting, not the setting these
reports describe, and `jit_compile=True` would add an XLA compile to every trial.
"""

import gc
import itertools

import keras

from tfreuse import KERAS_MODE_PHRASES, Scenario, Step, Variant, benchmark_test, make_redrawable, reinitialize
from tfreuse.scenarios.keras_models import keras_execution, mlp, regression
from tfreuse.scenarios.layer_reuse import param_bytes

LEARNING_RATES = (0.01, 0.03, 0.1)


class ModelInLoop(Scenario):
    name = "model_in_loop"
    variants = {
        "shared": Variant.baseline("one model whose weights each trial re-draws"),
        "reinstantiated": "re-instantiating the model (built, compiled and fit per trial) every step",
        "mitigated_clear_session": Variant.fix("a new model per trial after keras.backend.clear_session()"),
        "mitigated_gc_collect": Variant.fix("a new model per trial after gc.collect()"),
    }
    mode_phrases = KERAS_MODE_PHRASES
    modes = ("function",)
    sizes = {"small": {"rows": 64, "batch": 32, "features": 16, "hidden": 32, "outputs": 4}}

    @staticmethod
    def _compiled(ctx, counter, learning_rate):
        model = mlp(ctx.params, counter)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse",
                      **keras_execution(ctx.mode))
        return model

    @staticmethod
    def _fit(model, x, y, size):
        return model.fit(x, y, batch_size=size["batch"], epochs=1, verbose=0, shuffle=False)

    def shared(self, ctx):
        """One model; each trial re-draws its weights and sets the learning rate, then fits."""
        x, y = regression(ctx.params)
        rates = itertools.cycle(LEARNING_RATES)
        counter = ctx.trace_counter()
        model, weights = make_redrawable(lambda: self._compiled(ctx, counter, next(rates)), (x,))

        def trial():
            reinitialize(weights)
            model.optimizer.learning_rate = next(rates)
            return self._fit(model, x, y, ctx.params)

        return Step(trial, figures=lambda: {"param_bytes": param_bytes(model)})

    def _new_model_per_trial(self, ctx, before_each) -> Step:
        x, y = regression(ctx.params)
        rates = itertools.cycle(LEARNING_RATES)
        counter = ctx.trace_counter()

        def trial():
            before_each()
            return self._fit(self._compiled(ctx, counter, next(rates)), x, y, ctx.params)

        return Step(trial, figures=lambda: {"param_bytes": param_bytes(mlp(ctx.params))})

    def reinstantiated(self, ctx):
        """A new model built, compiled and fit per trial (all timed)."""
        return self._new_model_per_trial(ctx, lambda: None)

    def mitigated_clear_session(self, ctx):
        """`keras.backend.clear_session()`, then a new model per trial (all timed)."""
        return self._new_model_per_trial(ctx, keras.backend.clear_session)

    def mitigated_gc_collect(self, ctx):
        """`gc.collect()`, then a new model per trial (all timed)."""
        return self._new_model_per_trial(ctx, gc.collect)


test_model_in_loop = benchmark_test(ModelInLoop())
