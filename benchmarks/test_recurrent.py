"""Recurrent: one LSTM cell's weights shared across time steps, versus a cell per time step.

`shared` is `keras.layers.RNN(LSTMCell)`: one set of weights applied at every time step.
`per_timestep` unrolls by hand with a separate LSTMCell per step (distinct weights), so its
parameter bytes grow with the sequence length, which the sizes sweep. `reinstantiated`,
`reinitialized` and `mitigated` are the layer-reuse variants applied to the shared RNN.
"""

import keras
import tensorflow as tf

from tfreuse import benchmark_test
from tfreuse.scenarios.layer_reuse import XLA_RECOMPILE_SKIP, LayerReuse

SIZES = {
    f"len{length}": {"batch": 16, "timesteps": length, "features": 16, "units": 32}
    for length in (4, 16)
}


class UnrolledLSTM(keras.layers.Layer):
    """An LSTM unrolled by hand with its own LSTMCell (own weights) at every time step."""

    def __init__(self, units, timesteps, **kwargs):
        super().__init__(**kwargs)
        self.units, self.timesteps = units, timesteps
        self.cells = [keras.layers.LSTMCell(units, name=f"cell_{t}") for t in range(timesteps)]

    def build(self, input_shape):
        for cell in self.cells:
            cell.build((input_shape[0], input_shape[-1]))

    def call(self, inputs):
        zeros = tf.zeros((tf.shape(inputs)[0], self.units))
        state = [zeros, zeros]
        for t, cell in enumerate(self.cells):
            output, state = cell(inputs[:, t], state)
        return output

    def get_config(self):
        return {**super().get_config(), "units": self.units, "timesteps": self.timesteps}


SCENARIO = LayerReuse(
    "recurrent",
    make_layer=lambda size: keras.layers.RNN(keras.layers.LSTMCell(size["units"])),
    make_inputs=lambda size: (tf.random.normal((size["batch"], size["timesteps"], size["features"])),),
    sizes=SIZES,
    skips={("reinstantiated", "jit"): XLA_RECOMPILE_SKIP},
    layouts={"per_timestep": lambda size: UnrolledLSTM(size["units"], size["timesteps"])},
    thing="the LSTM",
    phrases={"per_timestep": "a separate cell per time step"},
)

test_recurrent = benchmark_test(SCENARIO)
