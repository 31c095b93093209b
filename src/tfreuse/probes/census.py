"""Variable census: tf.Variables created inside a window, and how many of them outlive it.

A variable creator scope sees every tf.Variable made while it is active (Keras 3 weights
included: each holds one). Weak references tell which are still alive after the window, without
scanning the whole heap (a gc.get_objects() scan costs ~0.7 s with TensorFlow loaded).
"""

from __future__ import annotations

import gc
import weakref


class VariableWindow:
    """Counts tf.Variables created in a `with` block and those still alive after it."""

    def __init__(self):
        self._created: list[weakref.ref] = []
        self.created = 0
        self.alive_after = 0

    def _record(self, next_creator, **kwargs):
        variable = next_creator(**kwargs)
        self._created.append(weakref.ref(variable))
        return variable

    def __enter__(self) -> "VariableWindow":
        import tensorflow as tf

        self._scope = tf.variable_creator_scope(self._record)
        self._scope.__enter__()
        return self

    def alive_now(self) -> int:
        """Variables created so far in the window that are still alive (collect garbage first)."""
        return sum(1 for ref in self._created if ref() is not None)

    def __exit__(self, *exc_info) -> None:
        self._scope.__exit__(*exc_info)
        gc.collect()
        self.created = len(self._created)
        self.alive_after = self.alive_now()
        self._created.clear()
