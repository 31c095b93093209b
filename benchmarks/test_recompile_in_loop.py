"""Recompile in a loop: `model.compile()` (so a new optimizer) every epoch or call, versus once.

`compile` makes Keras drop its train function (traced again on the next call) and, given a new
optimizer, every slot variable of the old one: Adam's moment estimates and its step count start
from zero. A custom training loop that makes its optimizer inside the loop loses the same.
Reported in tensorflow/tensorflow#26108 (about 20 MB more per `compile`).

One step is one Adam step of a 2-layer MLP on one 64-row batch.
- `shared`: compiled once; `model.train_on_batch(x, y)` every step;
- `recompiled`: `model.compile(optimizer=Adam(...))` before every `train_on_batch` (timed);
- `mitigated_same_optimizer`: recompiled every step, but with the same optimizer object, which
  keeps its slots (Keras still traces a new train function);
- `optimizer_per_step`: a custom GradientTape loop that makes a new Adam every step (timed; in
  function mode its variables are made eagerly and the new object retraces the step);
- `mitigated_optimizer_once`: the same custom loop with its Adam made once: the fix, and the
  reference that tells the custom loop's own cost from `train_on_batch`'s.

Every variant is trained `learning_steps` steps from the same start: `learning_retained` and
`optimizer_iterations` (the step count of the optimizer a variant ends with) show what a new
optimizer throws away: at this learning rate a fresh Adam's first step (about `lr * sign(g)` per
weight) never shrinks, so the loss stops falling where the shared Adam's keeps going.

Modes: Keras' `run_eagerly=True` (`eager`) and its default (`function`), `Context.compile`'s for
the custom loop. Both, because they tell the two costs apart: in eager mode there is no trace, so
what a new optimizer costs is its slots and the learning it throws away (an eager custom loop is
common); in function mode recompiling also retraces the train step every time
(`mitigated_same_optimizer`: a retrace, no new slots). Not `jit`: every retrace would be an XLA
compile too.
"""

import keras
import tensorflow as tf

from tfreuse import KERAS_MODE_PHRASES, Scenario, Step, Variant, benchmark_test
from tfreuse.scenarios.keras_models import keras_execution, mean_squared_error, mlp, regression

LEARNING_RATE = 0.2


def _adam():
    return keras.optimizers.Adam(LEARNING_RATE)


def _train(model, optimizer, x, y):
    """One step of `optimizer` on every trainable weight of `model` (the custom loop's body)."""
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
    variables = model.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return loss


class RecompileInLoop(Scenario):
    name = "recompile_in_loop"
    variants = {
        "shared": Variant.baseline("a model compiled once, trained with train_on_batch"),
        "recompiled": "recompiling the model with a new optimizer every step",
        "mitigated_same_optimizer": Variant.fix("recompiling every step with the same optimizer"),
        "optimizer_per_step": "creating a new optimizer every step of a custom loop",
        "mitigated_optimizer_once": Variant.fix("a custom loop with its optimizer made once"),
    }
    mode_phrases = KERAS_MODE_PHRASES
    modes = ("eager", "function")
    sizes = {"small": {"rows": 64, "features": 16, "hidden": 32, "outputs": 4}}
    learning_steps = 3

    @staticmethod
    def _model(ctx):
        model = mlp(ctx.params, ctx.trace_counter())
        x, y = regression(ctx.params)
        return model, tf.constant(x), tf.constant(y)

    @staticmethod
    def _step(run, model, current_optimizer, x, y) -> Step:
        def evaluate():
            return {"loss": mean_squared_error(model, x, y),
                    "optimizer_iterations": int(current_optimizer().iterations.numpy())}

        return Step(run, evaluate=evaluate)

    @staticmethod
    def _compile(ctx, model, optimizer):
        model.compile(optimizer=optimizer, loss="mse", **keras_execution(ctx.mode))

    def shared(self, ctx):
        """Compiled once; `train_on_batch` every step."""
        model, x, y = self._model(ctx)
        self._compile(ctx, model, _adam())
        return self._step(lambda: model.train_on_batch(x, y), model, lambda: model.optimizer, x, y)

    def recompiled(self, ctx):
        """`compile` with a new Adam before every `train_on_batch` (timed)."""
        model, x, y = self._model(ctx)
        self._compile(ctx, model, _adam())

        def run():
            self._compile(ctx, model, _adam())
            return model.train_on_batch(x, y)

        return self._step(run, model, lambda: model.optimizer, x, y)

    def mitigated_same_optimizer(self, ctx):
        """`compile` before every `train_on_batch`, always with the same Adam (timed)."""
        model, x, y = self._model(ctx)
        optimizer = _adam()
        self._compile(ctx, model, optimizer)

        def run():
            self._compile(ctx, model, optimizer)
            return model.train_on_batch(x, y)

        return self._step(run, model, lambda: model.optimizer, x, y)

    def optimizer_per_step(self, ctx):
        """A custom loop making a new Adam every step (timed), passed to the compiled step."""
        model, x, y = self._model(ctx)
        train = ctx.compile(_train)
        latest = {"optimizer": _adam()}

        def run():
            optimizer = latest["optimizer"] = _adam()
            if ctx.mode != "eager":  # a retrace may not create variables: make them eagerly
                optimizer.build(model.trainable_variables)
            return train(model, optimizer, x, y)

        return self._step(run, model, lambda: latest["optimizer"], x, y)

    def mitigated_optimizer_once(self, ctx):
        """The custom loop with its Adam made once."""
        model, x, y = self._model(ctx)
        optimizer = _adam()
        train = ctx.compile(_train)
        return self._step(lambda: train(model, optimizer, x, y), model, lambda: optimizer, x, y)


test_recompile_in_loop = benchmark_test(RecompileInLoop())
