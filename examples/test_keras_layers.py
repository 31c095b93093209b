"""Measure your own layers with the tfreuse pytest plugin: seven stock Keras layers and a model.

Installing tfreuse registers its pytest plugin; a test that asks for the `reuse_benchmark`
fixture is measured in every variant (shared, reinstantiated, reinitialized, mitigated), mode
(eager, function by default) and device. Parametrize the test as any other: each parameter is a
scenario of its own, named after the test and the parameter's id (`keras_layer[lstm]`), so the
report, its CSV and `tfreuse compare` keep them apart. Run it (not a timing run with `smoke`):

    pytest examples/test_keras_layers.py --tfreuse-profile quick --benchmark-json keras-layers.json
    tfreuse report keras-layers.json -o reports/keras-layers

`summary.md` and `index.html` then give each layer's ratio to its own `shared` variant.
`reuse_benchmark(..., loss=...)` makes every step an SGD step and records how much learning each
variant keeps; `name=` and `size=` name the scenario and its size yourself.
"""

import keras
import pytest
import tensorflow as tf


def _normal(*shape):
    return tf.random.stateless_normal(shape, seed=(1, 2))


def _token_ids(*shape):
    return tf.random.stateless_uniform(shape, seed=(1, 2), maxval=10_000, dtype=tf.int32)


# id -> (a factory of a new layer or model, a factory of its inputs: one tensor or a tuple of them)
LAYERS = [
    pytest.param(lambda: keras.layers.LSTM(64), lambda: _normal(32, 20, 32), id="lstm"),
    pytest.param(lambda: keras.layers.BatchNormalization(), lambda: _normal(32, 128), id="batchnorm"),
    pytest.param(lambda: keras.Sequential([keras.layers.Dense(256, activation="relu"), keras.layers.Dropout(0.5)]),
                 lambda: _normal(32, 128), id="dense_dropout"),
    pytest.param(lambda: keras.layers.Embedding(10_000, 64), lambda: _token_ids(32, 20), id="embedding"),
    pytest.param(lambda: keras.layers.Conv2D(32, 3, padding="same"), lambda: _normal(8, 32, 32, 3), id="conv2d"),
    pytest.param(lambda: keras.layers.MultiHeadAttention(num_heads=4, key_dim=16),
                 lambda: (_normal(8, 16, 64), _normal(8, 16, 64)), id="multihead_attention"),
    pytest.param(lambda: keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, include_top=False),
                 lambda: _normal(8, 32, 32, 3), id="mobilenetv3small"),
]


@pytest.mark.parametrize("make_layer, make_inputs", LAYERS)
def test_keras_layer(reuse_benchmark, make_layer, make_inputs):
    record = reuse_benchmark(make_layer=make_layer, make_inputs=make_inputs)
    assert record["outcome"] == "ok", record["error_message"]
