"""Function in a loop: a tf.function created inside the code that runs every step.

A tf.function keeps its traces in its own cache, so one made anew (inside the step, or as a
method of an object made anew per call) is traced anew every time: the cache the next call
could have used is thrown away. Reported in tensorflow/tensorflow#42441; TensorFlow's retracing
warning names it first ("creating @tf.function repeatedly in a loop").

One step is one call of `relu(x @ w1) @ w2` (the weights made once, outside).
- `shared`: the tf.function made once, called every step;
- `function_per_step`: `tf.function(body)` made inside the step, then called (timed);
- `method_per_object`: a new object per step whose method is decorated with `@tf.function`
  (the decorated method is a function per instance), then called (timed);
- `mitigated`: the step still asks a factory for its function, but the factory is behind
  `functools.cache`, so every step after the first gets the same function.

Modes: `function` and `jit` (with `jit_compile=True` every new function is also an XLA
compile). Eager mode has no tf.function to re-create.
"""

import functools

import tensorflow as tf

from tfreuse import Scenario, Variant, benchmark_test


def _two_layers(w1, w2):
    """The step's body, `relu(x @ w1) @ w2`, over weights made outside it."""
    def forward(x):
        return tf.nn.relu(x @ w1) @ w2
    return forward


class _Model:
    """Holds the weights; its `forward` is a tf.function method (a function per instance), and
    `forward_jit` the same with `jit_compile=True`."""

    def __init__(self, w1, w2, counter):
        self.w1, self.w2, self.counter = w1, w2, counter

    @tf.function
    def forward(self, x):
        self.counter.count()
        return tf.nn.relu(x @ self.w1) @ self.w2

    @tf.function(jit_compile=True)
    def forward_jit(self, x):
        self.counter.count()
        return tf.nn.relu(x @ self.w1) @ self.w2


class FunctionInLoop(Scenario):
    name = "function_in_loop"
    variants = {
        "shared": Variant.baseline("one tf.function made once"),
        "function_per_step": "creating a new tf.function every step",
        "method_per_object": "creating a new object with a tf.function method every step",
        "mitigated": Variant.fix("a tf.function factory behind functools.cache"),
    }
    modes = ("function", "jit")
    sizes = {"small": {"batch": 32, "features": 64, "hidden": 64, "outputs": 16}}

    @staticmethod
    def _data(size):
        """A batch and the two weights, made once outside every step."""
        x = tf.random.normal((size["batch"], size["features"]))
        w1 = tf.Variable(tf.random.normal((size["features"], size["hidden"])))
        w2 = tf.Variable(tf.random.normal((size["hidden"], size["outputs"])))
        return x, w1, w2

    def shared(self, ctx):
        """One tf.function, made once."""
        x, w1, w2 = self._data(ctx.params)
        forward = ctx.compile(_two_layers(w1, w2))
        return lambda: forward(x)

    def function_per_step(self, ctx):
        """A new tf.function made and called in every step (timed)."""
        x, w1, w2 = self._data(ctx.params)
        counter = ctx.trace_counter()

        def body(x):
            counter.count()
            return tf.nn.relu(x @ w1) @ w2

        return lambda: tf.function(body, jit_compile=ctx.mode == "jit")(x)

    def method_per_object(self, ctx):
        """A new object with a tf.function method made and called in every step (timed)."""
        x, w1, w2 = self._data(ctx.params)
        counter = ctx.trace_counter()

        def step():
            # Held by a name: a tf.function method keeps only a weak reference to its object.
            model = _Model(w1, w2, counter)
            return (model.forward_jit if ctx.mode == "jit" else model.forward)(x)

        return step

    def mitigated(self, ctx):
        """The function factory behind `functools.cache`: made on the first step only."""
        x, w1, w2 = self._data(ctx.params)
        make_function = functools.cache(lambda: ctx.compile(_two_layers(w1, w2)))
        return lambda: make_function()(x)


test_function_in_loop = benchmark_test(FunctionInLoop())
