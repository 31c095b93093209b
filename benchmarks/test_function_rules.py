"""tf.function variable rules: where variables may be created, and what a Python object argument costs.

- `shared`: a layer made once outside, passed to the function on every call (one trace);
- `guarded_creation`: a variable created inside the body on the first call only (allowed);
- `creation_every_call`: a variable created inside the body on every call: refused on the first
  call inside tf.function (TensorFlow cannot tell the calls' variables apart);
- `new_object_arg`: a new (pre-built) layer object passed on every call: layers are cache keys by
  identity, so every call retraces, and the cache entry stays after the layer is gone;
- `new_object_arg_reduce_retracing`: the same with `reduce_retracing=True`, which generalises
  shapes but not objects: it still retraces every call;
- `mitigated`: a new layer every call, but its weights passed as tensors (variables are traced by
  shape and dtype), so one trace serves every call.
"""

import keras
import tensorflow as tf

from tfreuse import Scenario, Variant, benchmark_test
from tfreuse.engine.layers import call_layer, prebuild


def _affine(x, kernel, bias):
    return tf.matmul(x, kernel) + bias


class _Holder:
    kernel = None


class FunctionRules(Scenario):
    name = "function_rules"
    variants = {
        "shared": Variant.baseline("one layer object, made outside, passed on every call"),
        "guarded_creation": Variant.fix("creating a variable inside tf.function on the first call only"),
        "creation_every_call": "creating a variable inside tf.function on every call",
        "new_object_arg": "passing a new layer object on every call",
        "new_object_arg_reduce_retracing": "passing a new layer object on every call with reduce_retracing=True",
        "mitigated": Variant.fix("passing the weights of a new layer object as tensors on every call"),
    }
    modes = ("eager", "function")
    sizes = {"small": {"batch": 32, "features": 64, "units": 64}}
    expected_errors = {("creation_every_call", "function"): ValueError}

    @staticmethod
    def _data(size):
        x = tf.random.normal((size["batch"], size["features"]))
        return x, (lambda: keras.layers.Dense(size["units"]))

    def shared(self, ctx):
        """One layer object, made and built outside."""
        x, new_layer = self._data(ctx.params)
        layer = new_layer()
        prebuild(layer, (x,))
        forward = ctx.compile(call_layer)
        return lambda: forward(layer, x)

    def guarded_creation(self, ctx):
        """`if holder.kernel is None: create` inside the body: creation on the first call only."""
        x, _ = self._data(ctx.params)
        initial = tf.random.normal((ctx.params["features"], ctx.params["units"]))
        holder = _Holder()

        def body(x):
            if holder.kernel is None:
                holder.kernel = tf.Variable(initial)
            return tf.matmul(x, holder.kernel)

        forward = ctx.compile(body)
        return lambda: forward(x)

    def creation_every_call(self, ctx):
        """`tf.Variable(...)` unconditionally inside the body."""
        x, _ = self._data(ctx.params)
        initial = tf.random.normal((ctx.params["features"], ctx.params["units"]))
        forward = ctx.compile(lambda x: tf.matmul(x, tf.Variable(initial)))
        return lambda: forward(x)

    def _new_object_each_call(self, ctx, **tf_function_options):
        x, new_layer = self._data(ctx.params)
        forward = ctx.compile(call_layer, **tf_function_options)

        def step():
            layer = new_layer()
            prebuild(layer, (x,))
            return forward(layer, x)

        return step

    def new_object_arg(self, ctx):
        """A new pre-built layer object every call (construction timed)."""
        return self._new_object_each_call(ctx)

    def new_object_arg_reduce_retracing(self, ctx):
        """As `new_object_arg`, with `reduce_retracing=True`."""
        return self._new_object_each_call(ctx, reduce_retracing=True)

    def mitigated(self, ctx):
        """A new layer every call, its kernel and bias passed instead of the layer object."""
        x, new_layer = self._data(ctx.params)
        forward = ctx.compile(_affine)

        def step():
            layer = new_layer()
            prebuild(layer, (x,))
            return forward(x, layer.kernel.value, layer.bias.value)

        return step


test_function_rules = benchmark_test(FunctionRules())
