"""A small Keras MLP, its seeded regression data, and what a mode means for Keras' own loops.

The scenarios around Keras' high-level APIs (`fit`, `predict`, `compile`, `load_model`) share
these. Keras makes and traces its own tf.functions there, so a mode is Keras' setting, not
`Context.compile`: `eager` is `run_eagerly=True`, `function` Keras' default (its train and
predict steps run as tf.functions), `jit` `jit_compile=True`. `TracedSequential` reports the
traces of those steps to the case's trace counter, so they show in the trace figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfreuse.probes.tracing import TraceCounter

DATA_SEED = 11


@keras.saving.register_keras_serializable(package="tfreuse")
class TracedSequential(keras.Sequential):
    """A Sequential model whose train and predict steps count their traces (`trace_counter`).

    The steps' Python bodies run only while Keras' tf.functions trace them (and on every call
    when `run_eagerly`, where the counter does not count), so each count is one trace.
    """

    trace_counter: TraceCounter | None = None

    def _count_trace(self) -> None:
        if self.trace_counter is not None:
            self.trace_counter.count()

    def train_step(self, data):
        self._count_trace()
        return super().train_step(data)

    def predict_step(self, data):
        self._count_trace()
        return super().predict_step(data)


def regression(size: Mapping[str, Any], rows_key: str = "rows") -> tuple[np.ndarray, np.ndarray]:
    """Seeded inputs and targets of a noisy linear task, `size[rows_key]` rows (NumPy, float32)."""
    rng = np.random.default_rng(DATA_SEED)
    x = rng.normal(size=(size[rows_key], size["features"])).astype("float32")
    w_true = rng.normal(size=(size["features"], size["outputs"])).astype("float32")
    y = x @ w_true + 0.01 * rng.normal(size=(size[rows_key], size["outputs"])).astype("float32")
    return x, y.astype("float32")


def mlp(size: Mapping[str, Any], counter: TraceCounter | None = None) -> TracedSequential:
    """A built two-layer MLP (`features` -> `hidden` ReLU -> `outputs`), traces counted by `counter`."""
    model = TracedSequential([
        keras.Input((size["features"],)),
        keras.layers.Dense(size["hidden"], activation="relu"),
        keras.layers.Dense(size["outputs"]),
    ])
    model.trace_counter = counter
    return model


def keras_execution(mode: str) -> dict:
    """`compile` arguments that make Keras run its own steps the way `mode` says."""
    return {"run_eagerly": mode == "eager", "jit_compile": mode == "jit"}


def mean_squared_error(model: Any, x: Any, y: Any) -> float:
    """The model's mean squared error on (x, y), called directly (no Keras loop)."""
    return float(tf.reduce_mean(tf.square(model(x, training=False) - y)))
