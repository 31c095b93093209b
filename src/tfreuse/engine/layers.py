"""Keras helpers the scenarios share: building a layer ahead of a trace and re-drawing its weights."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tfreuse.core.errors import VariantUnavailable, first_line


class NotRedrawable(VariantUnavailable):
    """A weight whose initializer cannot be known, so `reinitialized` cannot re-draw it."""


def call_layer(layer: Any, *inputs: Any) -> Any:
    """Call `layer` on `inputs`: the body every layer scenario traces."""
    return layer(*inputs)


def prebuild(layer: Any, inputs: Sequence[Any]) -> None:
    """Create `layer`'s weights eagerly, before it is handed to a tf.function.

    A tf.function may create variables only on its first trace; a new layer passed to an existing
    function retraces it, so its weights must exist before the call. A single-input layer with
    its own `build` is built from the shape; otherwise (Keras' default `build` would leave
    sub-layers unbuilt, or the input is a list such as Attention's) or if that left a sub-layer
    unbuilt, one eager call builds everything.
    """
    import keras

    if _all_built(layer):
        return
    if (len(inputs) == 1 and hasattr(inputs[0], "shape")
            and type(layer).build is not keras.layers.Layer.build):
        layer.build(tuple(inputs[0].shape))
    if not _all_built(layer):
        layer(*inputs)


def _all_built(layer: Any) -> bool:
    # Private: Keras 3 has no public list of a layer's nested sub-layers (Model.layers is one level,
    # models only); tests/test_tracing.py and the scenario tests fail if it goes.
    return all(sub.built for sub in layer._flatten_layers(include_self=True, recursive=True))  # noqa: SLF001


@contextlib.contextmanager
def observing_initializers() -> Iterator[dict[int, Any]]:
    """While active, remember the initializer every new Keras variable is drawn from, by variable id.

    Keras 3 keeps no initializer on a variable once it holds a value, and some layers adapt theirs
    while building (EinsumDense sets the fan axes of its kernel; LSTM's unit-forget bias is a
    function), so neither the config nor a table of names gives every weight's real initializer.
    Every weight is a `keras.Variable` made with the documented `initializer` argument
    (`Layer.add_weight` resolves its default before), so wrapping that constructor sees them all.
    This is the one place tfreuse patches Keras; tests/test_redrawing_keras_weights.py fails if it
    stops seeing them.
    """
    import keras

    variable_class = keras.Variable
    own_init = variable_class.__dict__.get("__init__")
    original = variable_class.__init__
    seen: dict[int, Any] = {}

    @functools.wraps(original)
    def init(self, initializer, *args, **kwargs):
        original(self, initializer, *args, **kwargs)
        if callable(initializer) or isinstance(initializer, str):
            seen[id(self)] = keras.initializers.get(initializer)

    variable_class.__init__ = init
    try:
        yield seen
    finally:
        if own_init is None:
            del variable_class.__init__
        else:
            variable_class.__init__ = own_init


def make_redrawable(make_layer: Callable[[], Any],
                    inputs: Sequence[Any]) -> tuple[Any, list[tuple[Any, Any]]]:
    """Make and build a layer (see `prebuild`); return it with (variable, initializer) per weight.

    Weights made while `make_layer()` runs and the layer builds are seen with their initializers.
    A factory that hands back a layer or model built earlier (its weights made before tfreuse
    could see them) is re-drawn from a copy made with Keras' own cloning (`initializers_of`).
    Raises NotRedrawable, naming the weight, when neither way finds its initializer.
    """
    with observing_initializers() as seen:
        layer = make_layer()
        prebuild(layer, inputs)
    if all(id(weight) in seen for weight in layer.weights):
        return layer, [(weight, _drawing_anew(seen[id(weight)])) for weight in layer.weights]
    return layer, initializers_of(layer, inputs)


def build_with_initializers(layer: Any, inputs: Sequence[Any]) -> list[tuple[Any, Any]]:
    """Build `layer` (see `prebuild`); (variable, initializer) for every weight (see `make_redrawable`)."""
    return make_redrawable(lambda: layer, inputs)[1]


def _copy(layer: Any) -> Any:
    """A new, unbuilt-or-freshly-built object of the same configuration (Keras' public cloning)."""
    import keras

    if isinstance(layer, keras.Model):
        return keras.models.clone_model(layer)
    return type(layer).from_config(layer.get_config())


def initializers_of(layer: Any, inputs: Sequence[Any]) -> list[tuple[Any, Any]]:
    """(variable, initializer) for every weight of an already built `layer` or model.

    A copy is made from the configuration (`keras.models.clone_model` for a model, `from_config`
    for a layer) and built while observing initializers: Keras creates the copy's weights in the
    same order with their own initializers, which are paired with the original's by position.
    """
    try:
        with observing_initializers() as seen:
            copy = _copy(layer)
            prebuild(copy, inputs)
    except Exception as exc:  # noqa: BLE001 - any failure to copy is the reason given
        raise NotRedrawable(f"cannot re-draw the weights of {layer.name!r}: they were made before "
                            f"tfreuse saw them and copying it failed ({type(exc).__name__}: "
                            f"{first_line(exc)})") from None
    originals, copies = layer.weights, copy.weights
    if [tuple(w.shape) for w in originals] != [tuple(w.shape) for w in copies]:
        raise NotRedrawable(f"cannot re-draw the weights of {layer.name!r}: a copy from its config "
                            f"has other weights ({len(copies)} against {len(originals)})")
    pairs = []
    for original, copied in zip(originals, copies):
        if id(copied) not in seen:
            raise NotRedrawable(f"cannot re-draw weight {original.path!r}: it is not made from an "
                                "initializer (a value given directly?)")
        pairs.append((original, _drawing_anew(seen[id(copied)])))
    return pairs


def _drawing_anew(initializer: Any) -> Any:
    """The initializer with a seed generator, so every call draws new values.

    A Keras 3 random initializer holds a fixed integer seed and returns identical values on
    every call; a SeedGenerator seed advances (itself seeded by keras.utils.set_random_seed).
    """
    import keras

    config = initializer.get_config() if hasattr(initializer, "get_config") else {}
    if "seed" not in config:  # deterministic, or a plain function (LSTM's unit-forget bias)
        return initializer
    return type(initializer).from_config({**config, "seed": keras.random.SeedGenerator()})


def reinitialize(pairs: list[tuple[Any, Any]]) -> None:
    """Assign every variable a fresh draw from its initializer (same objects, new values)."""
    for variable, initializer in pairs:
        variable.assign(initializer(variable.shape, dtype=variable.dtype))
