"""Layers in call: a subclassed layer that creates its sub-layers inside `call()`.

Keras layers are meant to make their sub-layers in `__init__` (or `build`). Made in `call`, a
sub-layer and its weights are new on every call: in eager mode the model runs, but its outer
layer tracks no weights, so nothing ever trains; inside tf.function TensorFlow refuses the
variables the second trace would create. Keras 3 also refuses a sub-layer assigned to an
attribute in `call` (`self.dense = Dense(...)`), in both modes ("You cannot add new elements
of state"). The issue filed for this suite names no tracker thread for it; the tf.function
refusal of variables made in a custom layer's `call` is tensorflow/tensorflow#27120, #48878
and #105654.

The block is a 2-layer MLP trained by SGD with GradientTape on its own trainable weights. Every
sub-layer has a seeded initializer, so a layer made anew starts from the same weights each time
and the learning lost is exact: `reinstantiated` keeps none of it.
- `shared`: sub-layers made in `__init__`;
- `reinstantiated`: sub-layers made (as locals) in `call` on every call (timed);
- `assigned_in_call`: sub-layers made in `call` and assigned to attributes: refused by Keras;
- `mitigated`: sub-layers made in `build()`, which Keras runs on the first call only.
"""

import keras
import tensorflow as tf

from tfreuse import Scenario, Step, Variant, benchmark_test

LEARNING_RATE = 0.05
INITIALIZER_SEED = 3
_REFUSED_IN_CALL = "You cannot add new elements of state"


def _dense_layers(size):
    """The block's two sub-layers, each from a seeded initializer (the same weights every time)."""
    return [keras.layers.Dense(size["hidden"], activation="relu",
                               kernel_initializer=keras.initializers.GlorotUniform(INITIALIZER_SEED)),
            keras.layers.Dense(size["outputs"],
                               kernel_initializer=keras.initializers.GlorotUniform(INITIALIZER_SEED + 1))]


def _apply(layers, x):
    for layer in layers:
        x = layer(x)
    return x


class BlockInInit(keras.layers.Layer):
    """Sub-layers made in `__init__`."""

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.stack = _dense_layers(size)

    def call(self, x):
        return _apply(self.stack, x)


class BlockInCall(keras.layers.Layer):
    """Sub-layers made in `call`, as locals: new ones (and new weights) every call."""

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = size

    def call(self, x):
        return _apply(_dense_layers(self.size), x)


class BlockAssignedInCall(BlockInCall):
    """Sub-layers made in `call` and kept as an attribute."""

    def call(self, x):
        self.stack = _dense_layers(self.size)
        return _apply(self.stack, x)


class BlockInBuild(BlockInCall):
    """Sub-layers made in `build`, which Keras runs before the first call."""

    def build(self, input_shape):
        self.stack = _dense_layers(self.size)
        for layer, width in zip(self.stack, (input_shape[-1], self.size["hidden"])):
            layer.build((None, width))

    def call(self, x):
        return _apply(self.stack, x)


def _loss(block, x, y):
    return tf.reduce_mean(tf.square(block(x) - y))


def _train(block, optimizer, x, y):
    """One SGD step of the block's trainable weights (none when it tracks none, as Keras skips)."""
    with tf.GradientTape() as tape:
        loss = _loss(block, x, y)
    variables = block.trainable_variables
    if variables:
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return loss


class LayersInCall(Scenario):
    name = "layers_in_call"
    variants = {
        "shared": Variant.baseline("sub-layers made once, in __init__"),
        "reinstantiated": "re-instantiating the sub-layers inside call() every step",
        "assigned_in_call": "assigning new sub-layers to attributes inside call()",
        "mitigated": Variant.fix("sub-layers made once, in build()"),
    }
    modes = ("eager", "function")
    sizes = {"small": {"batch": 64, "features": 16, "hidden": 32, "outputs": 4}}
    expected_errors = {("reinstantiated", "function"): ValueError,
                       ("assigned_in_call", "eager"): ValueError,
                       ("assigned_in_call", "function"): ValueError}
    learning_steps = 20

    @staticmethod
    def _task(size):
        """Seeded inputs and targets of a linear task."""
        x = tf.random.normal((size["batch"], size["features"]))
        y = x @ tf.random.normal((size["features"], size["outputs"]))
        return x, y

    def _step(self, ctx, block) -> Step:
        x, y = self._task(ctx.params)
        optimizer = keras.optimizers.SGD(LEARNING_RATE)

        def train_block(x, y):
            return _train(block, optimizer, x, y)

        train = ctx.compile(train_block)
        return Step(lambda: train(x, y), evaluate=lambda: {"loss": float(_loss(block, x, y))})

    def shared(self, ctx):
        """Sub-layers made once, in `__init__`."""
        return self._step(ctx, BlockInInit(ctx.params))

    def reinstantiated(self, ctx):
        """Sub-layers made in every call (timed): refused inside tf.function."""
        return self._step(ctx, BlockInCall(ctx.params))

    def assigned_in_call(self, ctx):
        """Sub-layers made in every call and assigned to an attribute: refused by Keras."""
        return self._step(ctx, BlockAssignedInCall(ctx.params))

    def mitigated(self, ctx):
        """Sub-layers made in `build()`: once, on the first call."""
        return self._step(ctx, BlockInBuild(ctx.params))


test_layers_in_call = benchmark_test(LayersInCall())
