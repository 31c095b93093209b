"""Layer reuse: one layer called on every batch, versus a new one per step, versus re-drawn weights.

The same three variants serve the built-in shared-layer benchmark and any user's own layer:
the scenario only needs a factory for the layer and one for its inputs.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from tfreuse.harness import Context, Scenario
from tfreuse.layers import call_layer, initializers_of, prebuild, reinitialize

LayerFactory = Callable[[Mapping[str, Any]], Any]
InputFactory = Callable[[Mapping[str, Any]], tuple]


class LayerReuse(Scenario):
    """`shared`, `reinstantiated` and `reinitialized` for a layer made by `make_layer(params)`."""

    variants = ("shared", "reinstantiated", "reinitialized")

    def __init__(self, name: str, make_layer: LayerFactory, make_inputs: InputFactory,
                 sizes: Mapping[str, Mapping[str, Any]]):
        self.name = name
        self.make_layer = make_layer
        self.make_inputs = make_inputs
        self.sizes = sizes

    def shared(self, ctx: Context):
        """One layer, built on the first call (in `first_step_s`), then only called."""
        layer = self.make_layer(ctx.params)
        inputs = self.make_inputs(ctx.params)
        forward = ctx.compile(call_layer)
        return lambda: forward(layer, *inputs)

    def reinstantiated(self, ctx: Context):
        """A new layer every step, construction and build inside the timer on purpose.

        In function mode each new layer is built eagerly, then passed to one tf.function, which
        retraces for every new object (layers are cache keys by identity).
        """
        inputs = self.make_inputs(ctx.params)
        forward = ctx.compile(call_layer)

        def step():
            layer = self.make_layer(ctx.params)
            if ctx.mode != "eager":
                prebuild(layer, inputs)
            return forward(layer, *inputs)

        return step

    def reinitialized(self, ctx: Context):
        """The same layer every step, its weights re-drawn from their initializers first (timed)."""
        layer = self.make_layer(ctx.params)
        inputs = self.make_inputs(ctx.params)
        prebuild(layer, inputs)
        weights = initializers_of(layer)
        forward = ctx.compile(call_layer)

        def step():
            reinitialize(weights)
            return forward(layer, *inputs)

        return step
