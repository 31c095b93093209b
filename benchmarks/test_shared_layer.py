"""Shared layer: one custom Dense-like layer reused, re-created, or re-initialized every step.

The layer is the seed article's first example: `build` creates a kernel and a bias with
`add_weight`. `shared` calls one instance on every batch; `reinstantiated` makes (and builds) a new
instance per step; `reinitialized` keeps the instance but re-draws its weights each step.
In function mode, the re-instantiated layer is passed to one tf.function, which retraces for every
new layer object.
"""

import keras
import tensorflow as tf

from tfreuse import LayerReuse, benchmark_test

SIZES = {
    "small": {"batch": 32, "features": 64, "units": 64},
    "large": {"batch": 256, "features": 1024, "units": 1024},
}


class LinearLayer(keras.layers.Layer):
    """`inputs @ w + b`, its weights made in `build` (the seed's LinearLayer)."""

    def __init__(self, units, kernel_initializer="random_normal", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                      initializer=self.kernel_initializer, name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer=self.bias_initializer,
                                    name="bias")

    def call(self, inputs):
        return tf.matmul(inputs, self.kernel) + self.bias

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


SCENARIO = LayerReuse(
    "shared_layer",
    make_layer=lambda size: LinearLayer(size["units"]),
    make_inputs=lambda size: (tf.random.normal((size["batch"], size["features"])),),
    sizes=SIZES,
    thing="a layer",
)

test_shared_layer = benchmark_test(SCENARIO)
