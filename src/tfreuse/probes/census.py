"""Variable census: tf.Variables created inside a window, and how many of them outlive it.

A variable creator scope sees every tf.Variable made while it is active (Keras 3 weights
included: each holds one). Weak references tell which are still alive after the window, without
scanning the whole heap (a gc.get_objects() scan costs ~0.7 s with TensorFlow loaded).
TensorFlow keeps creator scopes on the default graph, and `keras.backend.clear_session()` replaces
that graph (`tf.compat.v1.reset_default_graph()`): the window follows such a reset and enters its
scope again on the new default graph (`follow_default_graph`), so a step that clears the session
and builds a model still has its variables counted.
With `sources=True` each creation is also recorded with its name, shape, dtype, owner (a Keras
layer, optimizer or metric) and the user's lines that made it, for the guard and `tfreuse watch`
(off for benchmarks, where walking the stack would be inside the timer).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import sys
import weakref
from typing import Callable, Iterator

from tfreuse.probes.stack import SourceLine, user_frames


def format_shape(dims) -> str:
    """A shape as Python writes the tuple: `(32, 64)`, `(8,)`, `()`, `None` for an unknown dim."""
    return "(" + ", ".join("None" if d is None else str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


@dataclasses.dataclass(frozen=True)
class CreatedVariable:
    """One tf.Variable made in the window: what it is, and where the user's code made it."""

    name: str
    shape: tuple
    dtype: str
    owner: str | None  # "layer dense_3 (Dense)": the innermost Keras layer, optimizer or metric making it
    where: tuple[SourceLine, ...]  # the user's frames, innermost first

    def describe(self) -> str:
        """`name shape dtype [of owner]`, as a finding prints it."""
        shape = format_shape(self.shape)
        owner = f" of {self.owner}" if self.owner else ""
        return f"{self.name} {shape} {self.dtype}{owner}"


_OWNER_KINDS = (("layers", "Layer", "layer"), ("optimizers", "Optimizer", "optimizer"),
                ("metrics", "Metric", "metric"))


def _owner(frame) -> str | None:
    """The innermost Keras layer, optimizer or metric on the stack: the one making the variable.

    Optimizers and metrics are looked for too, so that an optimizer's slot made inside
    `model.fit` is not put on the model's account.
    """
    keras = sys.modules.get("keras")
    kinds = [(getattr(getattr(keras, module, None), name, None), label) for module, name, label in _OWNER_KINDS]
    kinds = [(cls, label) for cls, label in kinds if isinstance(cls, type)]
    while frame is not None and kinds:
        candidate = frame.f_locals.get("self") if "self" in frame.f_code.co_varnames else None
        for cls, label in kinds:
            if isinstance(candidate, cls):
                return f"{label} {candidate.name} ({type(candidate).__name__})"
        frame = frame.f_back
    return None


def describe_creation(variable, frame) -> CreatedVariable:
    """Name, shape, dtype, owner and user lines of a variable just made below `frame`."""
    shape = tuple(variable.shape.as_list()) if variable.shape.rank is not None else ()
    return CreatedVariable(variable.name.removesuffix(":0"), shape, variable.dtype.name,
                           _owner(frame), user_frames(frame))


@contextlib.contextmanager
def follow_default_graph(creator: Callable) -> Iterator[None]:
    """`tf.variable_creator_scope(creator)` on the default graph, and again on each new default
    graph that `tf.compat.v1.reset_default_graph()` (so `keras.backend.clear_session()`) makes.

    TensorFlow offers no hook on that reset: the reset of its default-graph stack (a thread-local
    object, so only this thread's) is wrapped for the block's duration, then put back. Scopes are
    left in reverse order, each on the graph it was entered on.
    """
    import tensorflow as tf
    from tensorflow.python.framework import ops

    graph_stack = ops._default_graph_stack  # noqa: SLF001 - the reset clear_session goes through
    scopes = []

    def enter() -> None:
        scope = tf.variable_creator_scope(creator)
        scope.__enter__()
        scopes.append(scope)

    reset_before = graph_stack.reset  # TensorFlow's, or an enclosing window's wrapper
    wrapped_before = "reset" in vars(graph_stack)

    def reset_and_follow() -> None:
        reset_before()
        enter()

    graph_stack.reset = reset_and_follow
    enter()
    try:
        yield
    finally:
        if graph_stack.reset is reset_and_follow:
            if wrapped_before:
                graph_stack.reset = reset_before
            else:
                del graph_stack.reset
        for scope in reversed(scopes):
            scope.__exit__(None, None, None)


class VariableWindow:
    """Counts tf.Variables created in a `with` block and those still alive after it."""

    def __init__(self, sources: bool = False):
        self._created: list[weakref.ref] = []
        self._sources = sources
        self.creations: list[CreatedVariable] = []
        self.created = 0
        self.alive_after = 0

    def _record(self, next_creator, **kwargs):
        variable = next_creator(**kwargs)
        self._created.append(weakref.ref(variable))
        if self._sources:
            self.creations.append(describe_creation(variable, sys._getframe(1)))
        return variable

    def __enter__(self) -> "VariableWindow":
        self._scope = follow_default_graph(self._record)
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
