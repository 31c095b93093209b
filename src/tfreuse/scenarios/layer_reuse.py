"""Layer reuse: one layer called on every batch, versus a new one per step, versus re-drawn weights.

The same variants serve the built-in layer scenarios (shared layer, recurrent, attention) and any
user's own layer: the scenario only needs a factory for the layer and one for its inputs.
Structural alternatives (a cell per time step, a projection per position) are extra `layouts`:
other factories whose layer is built once and reused like `shared`.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import numpy as np

from tfreuse.harness import Context, Scenario, Step
from tfreuse.layers import call_layer, initializers_of, prebuild, reinitialize

LayerFactory = Callable[[Mapping[str, Any]], Any]
InputFactory = Callable[[Mapping[str, Any]], tuple]

REUSE_VARIANTS = ("shared", "reinstantiated", "reinitialized", "mitigated")
XLA_RECOMPILE_SKIP = ("a new layer under XLA means a trace plus an XLA compile every step (~0.5 s "
                      "here); that cost is measured once, in the shared_layer scenario")


def param_bytes(layer: Any) -> int:
    """Bytes held by `layer`'s weights (trainable and not)."""
    return int(sum(np.prod(w.shape, dtype=np.int64) * np.dtype(w.dtype).itemsize
                   for w in layer.weights))


class LayerReuse(Scenario):
    """`shared`, `reinstantiated`, `reinitialized` and `mitigated` for `make_layer(params)`.

    `layouts` adds variants whose layer comes from another factory (e.g. distinct weights per
    time step) and is then reused like `shared`, so the structural cost shows beside the others.
    """

    modes = ("eager", "function", "jit")

    def __init__(self, name: str, make_layer: LayerFactory, make_inputs: InputFactory,
                 sizes: Mapping[str, Mapping[str, Any]],
                 layouts: Mapping[str, LayerFactory] | None = None,
                 skips: Mapping[tuple[str, str], str] | None = None):
        self.name = name
        self.make_layer = make_layer
        self.make_inputs = make_inputs
        self.sizes = sizes
        self.layouts = dict(layouts or {})
        self.variants = REUSE_VARIANTS + tuple(self.layouts)
        self.skips = dict(skips or {})

    def make_step(self, ctx: Context) -> Step:
        """Layouts are reused like `shared`; the rest dispatch to the variant methods."""
        factory = self.layouts.get(ctx.case.variant)
        if factory is not None:
            return self._reused(ctx, factory)
        return super().make_step(ctx)

    def _reused(self, ctx: Context, factory: LayerFactory) -> Step:
        layer = factory(ctx.params)
        inputs = self.make_inputs(ctx.params)
        forward = ctx.compile(call_layer)
        return Step(lambda: forward(layer, *inputs), figures=lambda: {"param_bytes": param_bytes(layer)})

    def shared(self, ctx: Context) -> Step:
        """One layer, built on the first call (so in `first_step_s`), then only called."""
        return self._reused(ctx, self.make_layer)

    def reinstantiated(self, ctx: Context) -> Step:
        """A new layer every step, construction and build inside the timer on purpose.

        In function/jit mode each new layer is built eagerly, then passed to one tf.function,
        which retraces for every new object (layers are cache keys by identity).
        """
        inputs = self.make_inputs(ctx.params)
        forward = ctx.compile(call_layer)
        latest = {}

        def step():
            layer = latest["layer"] = self.make_layer(ctx.params)
            if ctx.mode != "eager":
                prebuild(layer, inputs)
            return forward(layer, *inputs)

        return Step(step, figures=lambda: {"param_bytes": param_bytes(latest["layer"])})

    def reinitialized(self, ctx: Context) -> Step:
        """The same layer every step, its weights re-drawn from their initializers first (timed)."""
        layer = self.make_layer(ctx.params)
        inputs = self.make_inputs(ctx.params)
        prebuild(layer, inputs)
        weights = initializers_of(layer)
        forward = ctx.compile(call_layer)

        def step():
            reinitialize(weights)
            return forward(layer, *inputs)

        return Step(step, figures=lambda: {"param_bytes": param_bytes(layer)})

    def mitigated(self, ctx: Context) -> Step:
        """The fix for code that asks for a new layer every step: build once, cache, look up (timed).

        The step still calls a layer "factory", but through `functools.cache`, so every step after
        the first gets the same built layer and the tf.function never retraces.
        """
        inputs = self.make_inputs(ctx.params)
        forward = ctx.compile(call_layer)
        cached_layer = functools.cache(lambda: self.make_layer(ctx.params))
        return Step(lambda: forward(cached_layer(), *inputs),
                    figures=lambda: {"param_bytes": param_bytes(cached_layer())})
