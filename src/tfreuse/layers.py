"""Keras helpers the scenarios share: building a layer ahead of a trace and re-drawing its weights."""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Iterator, Sequence

# Weights whose initializer key in get_config() is not simply `<weight>_initializer`.
_INITIALIZER_KEYS = {"recurrent_kernel": "recurrent_initializer"}


def call_layer(layer: Any, *inputs: Any) -> Any:
    """Call `layer` on `inputs`: the body every layer scenario traces."""
    return layer(*inputs)


def prebuild(layer: Any, inputs: Sequence[Any]) -> None:
    """Create `layer`'s weights eagerly, before it is handed to a tf.function.

    A tf.function may create variables only on its first trace; a new layer passed to an existing
    function retraces it, so its weights must exist before the call. A single-input layer with
    its own `build` is built from the shape; otherwise (Keras' default `build` would leave
    sub-layers unbuilt) or if that left a sub-layer unbuilt, one eager call builds everything.
    """
    if _all_built(layer):
        return
    if len(inputs) == 1 and not getattr(type(layer).build, "_is_default", False):
        layer.build(tuple(inputs[0].shape))
    if not _all_built(layer):
        layer(*inputs)


def _all_built(layer: Any) -> bool:
    return all(sub.built for sub in layer._flatten_layers(include_self=True, recursive=True))


def _initializer_for(owner: Any, variable: Any):
    import keras

    config = owner.get_config()
    name = variable.name.split("/")[-1].split(":")[0]
    for key in (_INITIALIZER_KEYS.get(name), f"{name}_initializer"):
        if key and config.get(key) is not None:
            return keras.initializers.get(config[key])
    raise ValueError(
        f"cannot re-initialize weight {variable.path!r} of layer {owner.name!r}: its config has no "
        f"'{name}_initializer'"
    )


@contextlib.contextmanager
def recording_initializers() -> Iterator[dict]:
    """While active, remember the initializer each `add_weight` call was given, by variable id.

    Keras 3 keeps no initializer on a variable, and some layers adapt theirs while building
    (EinsumDense sets the fan axes of its kernel), so the config alone can give the wrong scale.
    """
    import keras

    original = keras.layers.Layer.add_weight
    recorded: dict[int, Any] = {}

    @functools.wraps(original)
    def add_weight(self, shape=None, initializer=None, dtype=None, *args, **kwargs):
        variable = original(self, shape, initializer, dtype, *args, **kwargs)
        if initializer is not None:
            recorded[id(variable)] = keras.initializers.get(initializer)
        return variable

    keras.layers.Layer.add_weight = add_weight
    try:
        yield recorded
    finally:
        keras.layers.Layer.add_weight = original


def build_with_initializers(layer: Any, inputs: Sequence[Any]) -> list[tuple[Any, Any]]:
    """Build `layer` (see `prebuild`) and return (variable, initializer) for every weight.

    Initializers seen while building are used as given; for weights made earlier (a model built
    at construction) the initializer is read back from the owning layer's config
    (`kernel` -> `kernel_initializer`, ...).
    """
    with recording_initializers() as recorded:
        prebuild(layer, inputs)
    pairs = []
    for owner in layer._flatten_layers(include_self=True, recursive=True):
        for variable in owner._trainable_variables + owner._non_trainable_variables:
            initializer = recorded.get(id(variable)) or _initializer_for(owner, variable)
            pairs.append((variable, _drawing_anew(initializer)))
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
