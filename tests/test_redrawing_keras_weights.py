"""`reinitialized` on every built-in Keras layer with weights and on stock keras.applications models.

Each layer is made three times: twice as Keras makes it (seeds 1 and 2: the reference draws) and
once through tfreuse (`make_redrawable`), whose weights are then overwritten with a constant and
re-drawn with `reinitialize`. A weight both reference draws agree on (zeros, ones, a fixed STFT
kernel) must come back exactly; any other must come back changed, new (not the seed-1 draw) and
at the scale Keras gives it (spread and largest value within a factor of the reference's).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfreuse.engine.layers import NotRedrawable, initializers_of, make_redrawable, observing_initializers, reinitialize

L = keras.layers
SENTINEL = 3.25  # a constant no initializer draws for a whole weight


def _floats(*shape):
    return tf.random.stateless_normal(shape, seed=(1, 2))


def _ints(*shape):
    return tf.random.stateless_uniform(shape, seed=(1, 2), maxval=20, dtype=tf.int32)


# name -> (factory, inputs): simple arguments, the smallest inputs each layer accepts.
LAYERS = {
    "Dense": (lambda: L.Dense(16), lambda: (_floats(2, 8),)),
    "EinsumDense": (lambda: L.EinsumDense("ab,bc->ac", output_shape=16, bias_axes="c"), lambda: (_floats(2, 8),)),
    "Embedding": (lambda: L.Embedding(20, 16), lambda: (_ints(2, 5),)),
    "ReversibleEmbedding": (lambda: L.ReversibleEmbedding(20, 16), lambda: (_ints(2, 5),)),
    "Conv1D": (lambda: L.Conv1D(8, 3), lambda: (_floats(2, 8, 4),)),
    "Conv1DTranspose": (lambda: L.Conv1DTranspose(8, 3), lambda: (_floats(2, 8, 4),)),
    "Conv2D": (lambda: L.Conv2D(8, 3), lambda: (_floats(2, 8, 8, 4),)),
    "Conv2DTranspose": (lambda: L.Conv2DTranspose(8, 3), lambda: (_floats(2, 8, 8, 4),)),
    "Conv3D": (lambda: L.Conv3D(8, 3), lambda: (_floats(2, 5, 5, 5, 4),)),
    "Conv3DTranspose": (lambda: L.Conv3DTranspose(8, 3), lambda: (_floats(2, 5, 5, 5, 4),)),
    "DepthwiseConv1D": (lambda: L.DepthwiseConv1D(3), lambda: (_floats(2, 8, 8),)),
    "DepthwiseConv2D": (lambda: L.DepthwiseConv2D(3), lambda: (_floats(2, 8, 8, 8),)),
    "SeparableConv1D": (lambda: L.SeparableConv1D(8, 3), lambda: (_floats(2, 8, 8),)),
    "SeparableConv2D": (lambda: L.SeparableConv2D(8, 3), lambda: (_floats(2, 8, 8, 8),)),
    "ConvLSTM1D": (lambda: L.ConvLSTM1D(4, 3), lambda: (_floats(2, 3, 8, 4),)),
    "ConvLSTM2D": (lambda: L.ConvLSTM2D(4, 3), lambda: (_floats(2, 3, 6, 6, 4),)),
    "ConvLSTM3D": (lambda: L.ConvLSTM3D(4, 3), lambda: (_floats(2, 2, 4, 4, 4, 4),)),
    "SimpleRNN": (lambda: L.SimpleRNN(16), lambda: (_floats(2, 5, 8),)),
    "GRU": (lambda: L.GRU(16), lambda: (_floats(2, 5, 8),)),
    "LSTM": (lambda: L.LSTM(16), lambda: (_floats(2, 5, 8),)),
    "Bidirectional": (lambda: L.Bidirectional(L.LSTM(16)), lambda: (_floats(2, 5, 8),)),
    "RNN(StackedRNNCells)": (lambda: L.RNN(L.StackedRNNCells([L.LSTMCell(16), L.GRUCell(16), L.SimpleRNNCell(16)])),
                             lambda: (_floats(2, 5, 8),)),
    "TimeDistributed": (lambda: L.TimeDistributed(L.Dense(16)), lambda: (_floats(2, 3, 8),)),
    "BatchNormalization": (lambda: L.BatchNormalization(), lambda: (_floats(2, 16),)),
    "LayerNormalization": (lambda: L.LayerNormalization(), lambda: (_floats(2, 16),)),
    "GroupNormalization": (lambda: L.GroupNormalization(groups=4), lambda: (_floats(2, 16),)),
    "RMSNormalization": (lambda: L.RMSNormalization(), lambda: (_floats(2, 16),)),
    "Normalization": (lambda: L.Normalization(), lambda: (_floats(2, 16),)),
    "SpectralNormalization": (lambda: L.SpectralNormalization(L.Dense(16)), lambda: (_floats(2, 8),)),
    "PReLU": (lambda: L.PReLU(), lambda: (_floats(2, 16),)),
    "Attention": (lambda: L.Attention(use_scale=True), lambda: ([_floats(2, 5, 8), _floats(2, 5, 8)],)),
    "AdditiveAttention": (lambda: L.AdditiveAttention(use_scale=True),
                          lambda: ([_floats(2, 5, 8), _floats(2, 5, 8)],)),
    "MultiHeadAttention": (lambda: L.MultiHeadAttention(num_heads=2, key_dim=8),
                           lambda: (_floats(2, 5, 16), _floats(2, 5, 16))),
    "GroupQueryAttention": (lambda: L.GroupQueryAttention(head_dim=8, num_query_heads=4, num_key_value_heads=2),
                            lambda: (_floats(2, 5, 16), _floats(2, 5, 16))),
    "STFTSpectrogram": (lambda: L.STFTSpectrogram(frame_length=32, frame_step=16), lambda: (_floats(2, 128, 1),)),
}

# Stock models, built at construction (before tfreuse sees them), at the smallest input each takes.
APPLICATIONS = {
    "MobileNetV3Small": (lambda: keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), weights=None, include_top=False), lambda: (_floats(1, 32, 32, 3),)),
    "MobileNetV2": (lambda: keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), weights=None, include_top=False), lambda: (_floats(1, 32, 32, 3),)),
}


def _as_keras_builds(make, inputs, seed):
    keras.utils.set_random_seed(seed)
    layer = make()
    layer(*inputs)
    return [w.numpy() for w in layer.weights]


def _check_redrawn(name, layer, pairs, make, inputs):
    weights = layer.weights
    assert [id(v) for v, _ in pairs] == [id(w) for w in weights], f"{name}: not every weight is paired"
    first, second = _as_keras_builds(make, inputs, 1), _as_keras_builds(make, inputs, 2)
    for weight in weights:
        weight.assign(np.full(weight.shape, SENTINEL, dtype=weight.dtype))
    keras.utils.set_random_seed(3)
    reinitialize(pairs)
    for weight, one, two in zip(weights, first, second):
        drawn, where = weight.numpy(), f"{name}: {weight.path}"
        if np.array_equal(one, two):  # deterministic: Keras gives the same values every time
            np.testing.assert_allclose(drawn, one, rtol=1e-6, err_msg=where)
            continue
        assert not np.all(drawn == SENTINEL), f"{where} was not re-drawn"
        assert not np.array_equal(drawn, one), f"{where} repeats an earlier draw"
        if one.size >= 16:
            assert 0.6 < np.std(drawn) / np.std(one) < 1.6, f"{where}: spread {np.std(drawn)} vs {np.std(one)}"
            assert np.max(np.abs(drawn)) <= 1.5 * np.max(np.abs(one)), f"{where}: largest value too large"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(LAYERS))
def test_every_weight_of_a_keras_layer_is_redrawn_at_its_own_scale(name):
    make, make_inputs = LAYERS[name]
    inputs = make_inputs()
    layer, pairs = make_redrawable(make, inputs)
    assert layer.weights, f"{name} has no weights: it does not belong in this sweep"
    _check_redrawn(name, layer, pairs, make, inputs)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(APPLICATIONS))
def test_a_stock_model_built_before_tfreuse_sees_it_is_redrawn(name):
    make, make_inputs = APPLICATIONS[name]
    inputs = make_inputs()
    built_earlier = make()
    layer, pairs = make_redrawable(lambda: built_earlier, inputs)
    _check_redrawn(name, layer, pairs, make, inputs)


def test_a_model_made_by_the_factory_is_seen_as_built_and_agrees_with_its_copy():
    make, make_inputs = APPLICATIONS["MobileNetV3Small"]
    inputs = make_inputs()
    layer, seen_while_built = make_redrawable(make, inputs)
    from_a_copy = initializers_of(layer, inputs)
    assert len(seen_while_built) == len(layer.weights) > 100
    assert [type(i).__name__ for _, i in seen_while_built] == [type(i).__name__ for _, i in from_a_copy]


def test_the_keras_variable_hook_sees_every_initializer_it_is_given():
    """Fails loudly if a Keras release stops passing initializers through keras.Variable."""
    with observing_initializers() as seen:
        dense = L.Dense(4, kernel_initializer="orthogonal", bias_initializer="ones")
        dense.build((2, 3))
        direct = keras.Variable(initializer="zeros", shape=(2,))
    assert type(seen[id(dense.kernel)]).__name__ == "Orthogonal"
    assert type(seen[id(dense.bias)]).__name__ == "Ones"
    assert type(seen[id(direct)]).__name__ == "Zeros"
    assert "__init__" not in vars(keras.Variable)  # the hook is removed afterwards


class FromAValue(keras.layers.Layer):
    """A layer whose weight is made from a value, not an initializer: nothing to re-draw it from."""

    def build(self, input_shape):
        self.offset = keras.Variable(np.ones(input_shape[-1], dtype="float32"), name="offset")

    def call(self, x):
        return x + self.offset


def test_a_weight_made_from_a_value_is_refused_with_its_name():
    with pytest.raises(NotRedrawable,
                       match=r"cannot re-draw weight 'from_a_value/offset': it is not made from an initializer"):
        make_redrawable(FromAValue, (_floats(2, 4),))
