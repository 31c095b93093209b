"""Python scalar arguments: a tf.function given a new Python number, or a new input shape, each call.

tf.function keys its traces on Python numbers by value and on tensors by shape and dtype, so a
step number (or epoch, learning rate, flag) passed as a Python number, or batches whose shape
changes, trace the function again on every new value. Reported in tensorflow/tensorflow#31842
(out of memory from retracing) and #34025 (the "5 out of the last 5 calls ... triggered
tf.function retracing" warning).

One step is one call of a small dense step `relu(x @ w) * scale` (the weights made once).
- `shared`: the step number passed as a tensor (converted in the step, timed): one trace;
- `python_scalar`: the step number passed as a Python int: one trace per step;
- `mitigated_scalar_as_variable`: the step number assigned to a tf.Variable the function reads;
- `mitigated_scalar_reduce_retracing`: the Python int with `reduce_retracing=True`, which
  generalises shapes, not Python values: it still traces every step;
- `changing_shape`: a batch with one more row every step (the data's own length): one trace per
  new shape;
- `mitigated_shape_input_signature`: the same batches, `input_signature` with a `None` batch
  dimension: traced once;
- `mitigated_shape_reduce_retracing`: the same batches, `reduce_retracing=True`: the second
  shape's trace generalises the batch dimension, then no more traces.

Modes: `function` and `jit` (XLA compiles each concrete shape again even without a retrace).
Eager mode has no tracing: every variant would be the same Python call.
"""

import itertools

import tensorflow as tf

from tfreuse import Scenario, Variant, benchmark_test

# Longer than any run's steps, so every step of `changing_shape` gets a shape of its own.
MAX_ROWS = 4096


class PythonScalarArgs(Scenario):
    name = "python_scalar_args"
    variants = {
        "shared": Variant.baseline("the step number as a tensor"),
        "python_scalar": "passing the step number as a Python int",
        "mitigated_scalar_as_variable": Variant.fix("the step number through a tf.Variable"),
        "mitigated_scalar_reduce_retracing": Variant.fix("the step number as a Python int with reduce_retracing=True"),
        "changing_shape": "feeding a batch of a new shape every step",
        "mitigated_shape_input_signature": Variant.fix("new batch shapes through an input_signature with None"),
        "mitigated_shape_reduce_retracing": Variant.fix("new batch shapes with reduce_retracing=True"),
    }
    modes = ("function", "jit")
    sizes = {"small": {"batch": 32, "features": 16, "units": 16}}

    @staticmethod
    def _weights(size):
        return tf.Variable(tf.random.normal((size["features"], size["units"])))

    @staticmethod
    def _batch(size):
        return tf.random.normal((size["batch"], size["features"]))

    def _scaled(self, ctx, **tf_function_options):
        """`relu(x @ w) * scale` compiled for the mode, and a batch."""
        w = self._weights(ctx.params)

        def scaled(x, scale):
            return tf.nn.relu(x @ w) * tf.cast(scale, tf.float32)

        return ctx.compile(scaled, **tf_function_options), self._batch(ctx.params)

    def shared(self, ctx):
        """The step number as a tensor: one trace serves every step."""
        forward, x = self._scaled(ctx)
        steps = itertools.count()
        return lambda: forward(x, tf.constant(next(steps)))

    def python_scalar(self, ctx):
        """The step number as a Python int: a new trace every step."""
        forward, x = self._scaled(ctx)
        steps = itertools.count()
        return lambda: forward(x, next(steps))

    def mitigated_scalar_reduce_retracing(self, ctx):
        """The Python int with `reduce_retracing=True`."""
        forward, x = self._scaled(ctx, reduce_retracing=True)
        steps = itertools.count()
        return lambda: forward(x, next(steps))

    def mitigated_scalar_as_variable(self, ctx):
        """The step number assigned to a variable the function reads (the assignment timed)."""
        w = self._weights(ctx.params)
        step_number = tf.Variable(0, dtype=tf.int64)

        def scaled(x):
            return tf.nn.relu(x @ w) * tf.cast(step_number, tf.float32)

        forward = ctx.compile(scaled)
        x = self._batch(ctx.params)
        steps = itertools.count()

        def step():
            step_number.assign(next(steps))
            return forward(x)

        return step

    def _growing_batches(self, ctx, **tf_function_options):
        """Batches of 1, 2, 3... rows, each step's a slice of one tensor made once."""
        w = self._weights(ctx.params)

        def dense(x):
            return tf.nn.relu(x @ w)

        forward = ctx.compile(dense, **tf_function_options)
        rows = tf.random.normal((MAX_ROWS, ctx.params["features"]))
        lengths = itertools.count(1)
        return lambda: forward(rows[:next(lengths) % MAX_ROWS + 1])

    def changing_shape(self, ctx):
        """A batch one row longer every step: a new trace every step."""
        return self._growing_batches(ctx)

    def mitigated_shape_input_signature(self, ctx):
        """The growing batches through an `input_signature` with a `None` batch dimension."""
        signature = [tf.TensorSpec((None, ctx.params["features"]), tf.float32)]
        return self._growing_batches(ctx, input_signature=signature)

    def mitigated_shape_reduce_retracing(self, ctx):
        """The growing batches with `reduce_retracing=True`."""
        return self._growing_batches(ctx, reduce_retracing=True)


test_python_scalar_args = benchmark_test(PythonScalarArgs())
