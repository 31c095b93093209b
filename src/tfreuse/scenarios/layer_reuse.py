"""Layer reuse: one layer called on every batch, versus a new one per step, versus re-drawn weights.

The same variants serve the built-in layer scenarios (shared layer, recurrent, attention) and any
user's own layer through the `reuse_benchmark` fixture and `tfreuse measure`: the scenario only
needs a factory for the layer and one for its inputs. With a `loss`, every step is an SGD step
and the harness records how much learning each variant keeps. Structural alternatives (a cell
per time step, a projection per position) are extra `layouts`: other factories whose layer is
built once and reused like `shared`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from tfreuse.core.roles import Variant
from tfreuse.engine.harness import Context, Scenario, Step
from tfreuse.engine.layers import make_redrawable, prebuild, reinitialize

LayerFactory = Callable[[Mapping[str, Any]], Any]
InputFactory = Callable[[Mapping[str, Any]], tuple]
Loss = Callable[[Any], Any]

REUSE_VARIANTS = ("shared", "reinstantiated", "reinitialized", "mitigated")
XLA_RECOMPILE_SKIP = ("a new layer under XLA means a trace plus an XLA compile every step (~0.5 s "
                      "here); that cost is measured once, in the shared_layer scenario")
LEARNING_STEPS = 20
LEARNING_RATE = 0.1


def reuse_meanings(thing: str) -> dict[str, Variant]:
    """The layer-reuse variants' meanings, worded for `thing` (e.g. "the LSTM")."""
    return {
        "shared": Variant.baseline(f"{thing} made once and called on every batch"),
        "reinstantiated": Variant(f"re-instantiating {thing} every step"),
        "reinitialized": Variant(f"re-initializing {thing} every step"),
        "mitigated": Variant.fix(f"asking a functools.cache'd factory for {thing} every step"),
    }


def as_inputs(made: Any) -> tuple:
    """A factory's inputs as the tuple of positional arguments of the layer."""
    return tuple(made) if isinstance(made, (tuple, list)) else (made,)


def param_bytes(layer: Any) -> int:
    """Bytes held by `layer`'s weights (trainable and not)."""
    return int(sum(np.prod(w.shape, dtype=np.int64) * np.dtype(w.dtype).itemsize
                   for w in layer.weights))


def _forward(layer, optimizer, *inputs):
    """Inference body: call the layer (the optimizer is unused)."""
    return layer(*inputs)


def _training_body(loss: Loss) -> Callable:
    def train(layer, optimizer, *inputs):
        """One SGD step of every trainable weight of `layer` on `loss(layer(*inputs))`."""
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = loss(layer(*inputs))
        variables = layer.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(value, variables), variables))
        return value

    return train


class LayerReuse(Scenario):
    """`shared`, `reinstantiated`, `reinitialized` and `mitigated` for `make_layer(params)`.

    `layouts` adds variants whose layer comes from another factory (e.g. distinct weights per
    time step) and is then reused like `shared`, so the structural cost shows beside the others.
    Reports word the variants for `thing`; `phrases` words a layout, or rewords any variant (a
    phrase, or a `Variant`).
    """

    modes = ("eager", "function", "jit")

    def __init__(self, name: str, make_layer: LayerFactory, make_inputs: InputFactory,
                 sizes: Mapping[str, Mapping[str, Any]],
                 layouts: Mapping[str, LayerFactory] | None = None,
                 skips: Mapping[tuple[str, str], str] | None = None,
                 loss: Loss | None = None, thing: str = "the layer",
                 phrases: Mapping[str, str | Variant] | None = None):
        self.name = name
        self.make_layer = make_layer
        self.make_inputs = make_inputs
        self.sizes = sizes
        self.layouts = dict(layouts or {})
        layout_meanings = {name: Variant(f"the {name} layout") for name in self.layouts}
        self.variants = {**reuse_meanings(thing), **layout_meanings, **dict(phrases or {})}
        self.skips = dict(skips or {})
        self.loss = loss
        self.learning_steps = LEARNING_STEPS if loss is not None else None

    def make_step(self, ctx: Context) -> Step:
        """Layouts are reused like `shared`; the rest dispatch to the variant methods."""
        factory = self.layouts.get(ctx.case.variant)
        if factory is not None:
            return self._reused(ctx, lambda: factory(ctx.params))
        return super().make_step(ctx)

    def _optimizer(self):
        if self.loss is None:
            return None
        import keras

        return keras.optimizers.SGD(LEARNING_RATE)

    def _step(self, run: Callable[[], Any], current_layer: Callable[[], Any], inputs: tuple) -> Step:
        """A Step whose figures and evaluation read whichever layer the variant uses now."""
        evaluate = None
        if self.loss is not None:
            evaluate = lambda: {"loss": float(self.loss(current_layer()(*inputs)))}  # noqa: E731
        return Step(run, figures=lambda: {"param_bytes": param_bytes(current_layer())},
                    evaluate=evaluate)

    def _compiled_body(self, ctx: Context) -> Callable:
        return ctx.compile(_forward if self.loss is None else _training_body(self.loss))

    def _reused(self, ctx: Context, get_layer: Callable[[], Any]) -> Step:
        layer = get_layer()
        inputs = self.make_inputs(ctx.params)
        optimizer = self._optimizer()
        body = self._compiled_body(ctx)
        return self._step(lambda: body(layer, optimizer, *inputs), lambda: layer, inputs)

    def shared(self, ctx: Context) -> Step:
        """One layer, built on the first call (so in `first_step_s`), then only called."""
        return self._reused(ctx, lambda: self.make_layer(ctx.params))

    def reinstantiated(self, ctx: Context) -> Step:
        """A new layer (and optimizer) every step, made and built inside the timer on purpose.

        In function/jit mode each new layer is built eagerly, then passed to one tf.function,
        which retraces for every new object (layers are cache keys by identity); variables may
        not be created in a retrace, so the optimizer's are made eagerly too.
        """
        inputs = self.make_inputs(ctx.params)
        body = self._compiled_body(ctx)
        latest = {"layer": self.make_layer(ctx.params)}

        def step():
            layer = latest["layer"] = self.make_layer(ctx.params)
            optimizer = self._optimizer()
            if ctx.mode != "eager":
                prebuild(layer, inputs)
                if optimizer is not None:
                    optimizer.build(layer.trainable_variables)
            return body(layer, optimizer, *inputs)

        return self._step(step, lambda: latest["layer"], inputs)

    def reinitialized(self, ctx: Context) -> Step:
        """The same layer every step, its weights re-drawn from their initializers first (timed).

        The initializers are those Keras drew each weight from (see `tfreuse.engine.layers`); a layer with
        a weight whose initializer cannot be known is recorded as refused, with the reason.
        """
        inputs = self.make_inputs(ctx.params)
        layer, weights = make_redrawable(lambda: self.make_layer(ctx.params), inputs)
        optimizer = self._optimizer()
        body = self._compiled_body(ctx)

        def step():
            reinitialize(weights)
            return body(layer, optimizer, *inputs)

        return self._step(step, lambda: layer, inputs)

    def mitigated(self, ctx: Context) -> Step:
        """The fix for code that asks for a new layer every step: build once, cache, look up (timed).

        The step still calls a layer "factory", but through `functools.cache`, so every step after
        the first gets the same layer and the tf.function never retraces.
        """
        inputs = self.make_inputs(ctx.params)
        body = self._compiled_body(ctx)
        cached = functools.cache(lambda: (self.make_layer(ctx.params), self._optimizer()))
        return self._step(lambda: body(*cached(), *inputs), lambda: cached()[0], inputs)
