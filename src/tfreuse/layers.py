"""Keras helpers the scenarios share: building a layer ahead of a trace and re-drawing its weights."""

from __future__ import annotations

from typing import Any, Sequence

# Weights whose initializer key in get_config() is not simply `<weight>_initializer`.
_INITIALIZER_KEYS = {"recurrent_kernel": "recurrent_initializer"}


def call_layer(layer: Any, *inputs: Any) -> Any:
    """Call `layer` on `inputs`: the body every layer scenario traces."""
    return layer(*inputs)


def prebuild(layer: Any, inputs: Sequence[Any]) -> None:
    """Create `layer`'s weights eagerly, before it is handed to a tf.function.

    A tf.function may create variables only on its first trace; a new layer passed to an existing
    function retraces it, so its weights must exist before the call. A single-input layer is built
    from the shape alone; a multi-input one by one eager call.
    """
    if layer.built:
        return
    if len(inputs) == 1:
        layer.build(tuple(inputs[0].shape))
    else:
        layer(*inputs)


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


def initializers_of(layer: Any) -> list[tuple[Any, Any]]:
    """(variable, initializer) for every weight of `layer` and its sub-layers.

    Keras 3 does not keep a variable's initializer after creating it, so the initializer is read
    back from the owning layer's config (`kernel` -> `kernel_initializer`, ...).
    """
    pairs = []
    for owner in layer._flatten_layers(include_self=True, recursive=True):
        for variable in owner._trainable_variables + owner._non_trainable_variables:
            pairs.append((variable, _initializer_for(owner, variable)))
    return pairs


def reinitialize(pairs: list[tuple[Any, Any]]) -> None:
    """Assign every variable a fresh draw from its initializer (same objects, new values)."""
    for variable, initializer in pairs:
        variable.assign(initializer(variable.shape, dtype=variable.dtype))
