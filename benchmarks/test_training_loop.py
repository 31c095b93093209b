"""Custom training loop: one tf.Variable weight trained by SGD with GradientTape (seed example 2).

`shared` creates the weight once, outside the step; `recreated` makes a new weight (and so a new
optimizer, which is bound to its variables) in every step: inside tf.function TensorFlow refuses
it, in eager mode it runs and never gets past one step of learning; `reinitialized` assigns the
initial value back before each step; `mitigated` is the fix for creation inside tf.function:
create on the first call only (a guarded `if holder.weight is None`).
Every variant is trained `learning_steps` steps from the same start to show what learning survives.
"""

import keras
import tensorflow as tf

from tfreuse import Scenario, Step, Variant, benchmark_test

LEARNING_RATE = 0.1


def _regression(size):
    """Seeded data for `y = x @ w_true + noise`, and the weight's starting value."""
    x = tf.random.normal((size["batch"], size["features"]))
    w_true = tf.random.normal((size["features"], size["outputs"]))
    y = x @ w_true + 0.01 * tf.random.normal((size["batch"], size["outputs"]))
    return x, y, tf.random.normal((size["features"], size["outputs"]))


def _loss(weight, x, y):
    return tf.reduce_mean(tf.square(x @ weight - y))


def _train(weight, optimizer, x, y):
    """One SGD step of `weight` on (x, y); the body every variant traces."""
    with tf.GradientTape() as tape:
        loss = _loss(weight, x, y)
    optimizer.apply_gradients([(tape.gradient(loss, weight), weight)])
    return loss


class _Holder:
    """Where a variant keeps the weight it is currently training."""

    weight = None
    optimizer = None


class TrainingLoop(Scenario):
    name = "training_loop"
    variants = {
        "shared": Variant.baseline("one trained variable made once, outside the step"),
        "recreated": "re-creating the trained variable every step",
        "reinitialized": "re-initializing the trained variable every step",
        "mitigated": Variant.fix("creating the trained variable inside the step on the first call only"),
    }
    modes = ("eager", "function", "jit")
    sizes = {
        "small": {"batch": 64, "features": 8, "outputs": 4},
        "large": {"batch": 1024, "features": 512, "outputs": 256},
    }
    expected_errors = {("recreated", "function"): ValueError}
    skips = {
        (variant, "jit"): "XLA cannot lift a variable created inside a jit-compiled function "
                          "(UnimplementedError at the large size); creation inside the step is "
                          "measured in function mode"
        for variant in ("recreated", "mitigated")
    }
    learning_steps = 50

    def _step(self, ctx, holder, body, x, y, w0) -> Step:
        step = ctx.compile(body)

        def evaluate():
            weight = holder.weight if holder.weight is not None else w0  # mitigated: before creation
            return {"loss": float(_loss(weight, x, y))}

        return Step(lambda: step(x, y), evaluate=evaluate)

    def shared(self, ctx):
        """The weight and its optimizer are made once, outside the step."""
        x, y, w0 = _regression(ctx.params)
        holder = _Holder()
        holder.weight, holder.optimizer = tf.Variable(w0), keras.optimizers.SGD(LEARNING_RATE)
        return self._step(ctx, holder, lambda x, y: _train(holder.weight, holder.optimizer, x, y), x, y, w0)

    def recreated(self, ctx):
        """A new weight and optimizer inside every step (timed): refused inside tf.function."""
        x, y, w0 = _regression(ctx.params)
        holder = _Holder()
        holder.weight = tf.Variable(w0)

        def body(x, y):
            holder.weight = tf.Variable(w0)
            return _train(holder.weight, keras.optimizers.SGD(LEARNING_RATE), x, y)

        return self._step(ctx, holder, body, x, y, w0)

    def reinitialized(self, ctx):
        """The same weight, assigned its initial value before every step (timed)."""
        x, y, w0 = _regression(ctx.params)
        holder = _Holder()
        holder.weight, holder.optimizer = tf.Variable(w0), keras.optimizers.SGD(LEARNING_RATE)

        def body(x, y):
            holder.weight.assign(w0)
            return _train(holder.weight, holder.optimizer, x, y)

        return self._step(ctx, holder, body, x, y, w0)

    def mitigated(self, ctx):
        """Created inside the step, but on the first call only: what tf.function allows."""
        x, y, w0 = _regression(ctx.params)
        holder = _Holder()

        def body(x, y):
            if holder.weight is None:
                holder.weight = tf.Variable(w0)
                holder.optimizer = keras.optimizers.SGD(LEARNING_RATE)
            return _train(holder.weight, holder.optimizer, x, y)

        return self._step(ctx, holder, body, x, y, w0)


test_training_loop = benchmark_test(TrainingLoop())
