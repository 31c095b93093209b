"""Attention: one set of query/key/value projections shared across positions, versus one per position.

`shared` projects every position with the same three Dense layers, as `MultiHeadAttention` does;
`per_position` gives each position its own three (distinct weights), so its parameter bytes grow
with the sequence length, which the sizes sweep. `reinstantiated`, `reinitialized` and `mitigated`
are the layer-reuse variants applied to the shared layer.
"""

import math

import keras
import tensorflow as tf

from tfreuse import benchmark_test
from tfreuse.scenarios.layer_reuse import XLA_RECOMPILE_SKIP, LayerReuse

SIZES = {
    f"len{length}": {"batch": 16, "positions": length, "dim": 32}
    for length in (8, 32)
}
ROLES = ("query", "key", "value")


class SelfAttention(keras.layers.Layer):
    """Single-head self-attention; `per_position=True` gives every position its own projections."""

    def __init__(self, dim, positions, per_position=False, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.positions, self.per_position = dim, positions, per_position
        groups = positions if per_position else 1
        self.projections = [keras.layers.Dense(dim, name=f"{role}_{group}")
                            for group in range(groups) for role in ROLES]

    def build(self, input_shape):
        for dense in self.projections:
            dense.build((None, input_shape[-1]))

    def _project(self, inputs, role):
        index = ROLES.index(role)
        if not self.per_position:
            return self.projections[index](inputs)
        return tf.stack([self.projections[3 * p + index](inputs[:, p])
                         for p in range(self.positions)], axis=1)

    def call(self, inputs):
        query, key, value = (self._project(inputs, role) for role in ROLES)
        scores = tf.matmul(query, key, transpose_b=True) / math.sqrt(self.dim)
        return tf.matmul(tf.nn.softmax(scores), value)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "positions": self.positions,
                "per_position": self.per_position}


SCENARIO = LayerReuse(
    "attention",
    make_layer=lambda size: SelfAttention(size["dim"], size["positions"]),
    make_inputs=lambda size: (tf.random.normal((size["batch"], size["positions"], size["dim"])),),
    sizes=SIZES,
    skips={("reinstantiated", "jit"): XLA_RECOMPILE_SKIP},
    layouts={"per_position": lambda size: SelfAttention(size["dim"], size["positions"], per_position=True)},
    thing="the attention layer",
    phrases={"per_position": "separate projections per position"},
)

test_attention = benchmark_test(SCENARIO)
