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
(off for benchmarks, where walking the stack would be inside the timer). Keras makes a layer's
weights when the layer is first called (built), not where it is constructed, and the line to fix
is the construction: while such a window is open, the user's lines that construct each Keras
layer (models included), optimizer and metric are remembered too (`recording_construction`), and
a variable's record names its owner's construction lines beside the lines that built it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import sys
import weakref
from collections.abc import Callable, Iterator

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
    where: tuple[SourceLine, ...]  # the user's frames that made (built) it, innermost first
    # The user's frames that constructed the owner object (innermost first), when that happened
    # while a census window with sources was open; empty otherwise.
    constructed_at: tuple[SourceLine, ...] = ()
    owner_class: str | None = None  # the owner's class name, "Dense"

    def describe(self) -> str:
        """`name shape dtype [of owner]`, as a finding prints it."""
        shape = format_shape(self.shape)
        owner = f" of {self.owner}" if self.owner else ""
        return f"{self.name} {shape} {self.dtype}{owner}"

    @property
    def site(self) -> SourceLine | None:
        """The line to fix: where the owner was constructed if known, else where the variable was made."""
        return (self.constructed_at or self.where or (None,))[0]

    @property
    def built_elsewhere(self) -> bool:
        """Whether the user's line that built the variable differs from its owner's construction line."""
        return bool(self.constructed_at and self.where) and \
            self.where[0].location != self.constructed_at[0].location

    def source_lines(self) -> list[str]:
        """`made at ...` (with callers), then `built at ...` when the build is on another line.

        The owner's construction line comes first, marked `(Dense constructed here)`; without a
        known construction, the line that made the variable.
        """
        if not self.where and not self.constructed_at:
            return ["made outside user code (no frame outside TensorFlow, Keras and tfreuse)"]
        if not self.constructed_at:
            return _with_callers("made at", self.where)
        note = f"{self.owner_class or 'owner'} constructed here"
        lines = _with_callers("made at", self.constructed_at, note)
        if self.built_elsewhere:
            lines += _with_callers("built at", self.where)
        return lines


def _with_callers(label: str, frames: tuple[SourceLine, ...], note: str | None = None) -> list[str]:
    first, *callers = frames
    return [f"{label} {first.noted(note) if note else first}",
            *(f"  called from {caller}" for caller in callers)]


_OWNER_KINDS = (("layers", "Layer", "layer"), ("optimizers", "Optimizer", "optimizer"),
                ("metrics", "Metric", "metric"))


def _owner_kinds() -> list[tuple[type, str]]:
    """(Keras base class, label) for layers, optimizers and metrics; empty before Keras is imported."""
    keras = sys.modules.get("keras")
    kinds = [(getattr(getattr(keras, module, None), name, None), label) for module, name, label in _OWNER_KINDS]
    return [(cls, label) for cls, label in kinds if isinstance(cls, type)]


def _owning_object(frame) -> tuple[object, str] | None:
    """The innermost Keras layer, optimizer or metric on the stack, and its label.

    Optimizers and metrics are looked for too, so that an optimizer's slot made inside
    `model.fit` is not put on the model's account.
    """
    kinds = _owner_kinds()
    while frame is not None and kinds:
        candidate = frame.f_locals.get("self") if "self" in frame.f_code.co_varnames else None
        for cls, label in kinds:
            if isinstance(candidate, cls):
                return candidate, f"{label} {candidate.name} ({type(candidate).__name__})"
        frame = frame.f_back
    return None


def describe_creation(variable, frame) -> CreatedVariable:
    """Name, shape, dtype, owner, the owner's construction lines and the user lines of a variable
    just made below `frame`."""
    shape = tuple(variable.shape.as_list()) if variable.shape.rank is not None else ()
    found = _owning_object(frame)
    owner, label = found if found else (None, None)
    return CreatedVariable(variable.name.removesuffix(":0"), shape, variable.dtype.name, label,
                           user_frames(frame), construction_site(owner) if owner is not None else (),
                           type(owner).__name__ if owner is not None else None)


# Keras object -> the user's frames that constructed it (recorded while a sources window is open).
_CONSTRUCTED: weakref.WeakKeyDictionary[object, tuple[SourceLine, ...]] = weakref.WeakKeyDictionary()
_RECORDING = {"windows": 0, "restore": None}


def construction_site(obj) -> tuple[SourceLine, ...]:
    """The user's frames that constructed a Keras layer, optimizer or metric (innermost first);
    empty if it was constructed while no census window with sources was open."""
    try:
        return _CONSTRUCTED.get(obj, ())
    except TypeError:  # not hashable or not weakly referable: nothing recorded for it
        return ()


def _constructing_frame(obj, frame):
    """The frame outside `obj`'s constructor chain (each subclass' `__init__` calling `super()`)."""
    while frame is not None and "self" in frame.f_code.co_varnames and frame.f_locals.get("self") is obj:
        frame = frame.f_back
    return frame


def _record_construction(obj, frame) -> None:
    try:
        if obj not in _CONSTRUCTED:
            _CONSTRUCTED[obj] = user_frames(_constructing_frame(obj, frame))
    except TypeError:
        pass


def _wrap_keras_constructors(record: Callable[[object, object], None]) -> Callable[[], None]:
    """Call `record(obj, caller_frame)` as each Keras layer, optimizer or metric is constructed;
    returns the function that undoes it.

    Keras offers no hook on construction (it builds a layer's weights on its first call, so the
    construction line is only seen while the object is made). This is the one place that relies
    on how Keras constructs objects (3.15): every layer (models included), optimizer and metric
    runs the `__init__` its base class `keras.layers.Layer`, `keras.optimizers.Optimizer` or
    `keras.metrics.Metric` resolves to, through its subclasses' `super().__init__()`. That
    `__init__` is replaced on the base class by one that records, then calls the original (with
    the original's signature, which Keras reads for configs); undoing puts the original back (or
    removes the attribute if the base class only inherited it).
    tests/test_census.py fails if construction stops passing through it.
    """
    import functools
    import inspect

    def recording(original):
        @functools.wraps(original)
        def init(self, *args, **kwargs):
            record(self, sys._getframe(1))
            original(self, *args, **kwargs)

        # Keras reads `cls.__init__`'s signature (with and without following `__wrapped__`) to
        # make each object's config: both must read the original's.
        init.__signature__ = inspect.signature(original)
        return init

    restores = []
    for cls, _label in _owner_kinds():
        own = "__init__" in vars(cls)
        original = cls.__init__
        init = recording(original)
        cls.__init__ = init

        def restore(cls=cls, own=own, original=original, init=init):
            if cls.__dict__.get("__init__") is init:
                if own:
                    cls.__init__ = original
                else:
                    del cls.__init__

        restores.append(restore)

    def undo() -> None:
        for restore in reversed(restores):
            restore()

    return undo


@contextlib.contextmanager
def recording_construction() -> Iterator[None]:
    """Remember the user's construction lines of Keras layers, optimizers and metrics made in the
    block (see `construction_site`). Nested blocks share one set of wrappers.

    Keras is imported here if it is installed: a script run by `tfreuse watch` imports it only
    after the window opened, and its first objects would have no construction line.
    """
    if _RECORDING["windows"] == 0:
        try:
            import keras  # noqa: F401 - its base classes must exist to be wrapped
        except ImportError:
            pass
        _RECORDING["restore"] = _wrap_keras_constructors(_record_construction) if _owner_kinds() else None
    _RECORDING["windows"] += 1
    try:
        yield
    finally:
        _RECORDING["windows"] -= 1
        if _RECORDING["windows"] == 0 and _RECORDING["restore"] is not None:
            _RECORDING["restore"]()
            _RECORDING["restore"] = None


@contextlib.contextmanager
def follow_default_graph(creator: Callable) -> Iterator[None]:
    """`tf.variable_creator_scope(creator)` on the default graph, and again on each new default
    graph that `tf.compat.v1.reset_default_graph()` (so `keras.backend.clear_session()`) makes.

    TensorFlow offers no hook on that reset: the reset of its default-graph stack (a thread-local
    object, so only this thread's) is wrapped for the block's duration, then put back. A reset
    leaves the scope of the graph it replaces; the last scope is left when the block ends.
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
        # Leave the scope on the graph being replaced first: kept entered, it would keep that graph
        # (and all it holds) alive until the window closes, and the window would count its bytes.
        scopes.pop().__exit__(None, None, None)
        try:
            reset_before()
        finally:  # a refused reset leaves the old graph current: count on it again
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
        for scope in reversed(scopes):  # the one on the current default graph
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

    def __enter__(self) -> VariableWindow:
        self._construction = recording_construction() if self._sources else contextlib.nullcontext()
        self._construction.__enter__()
        self._scope = follow_default_graph(self._record)
        self._scope.__enter__()
        return self

    def alive_now(self) -> int:
        """Variables created so far in the window that are still alive (collect garbage first)."""
        return sum(1 for ref in self._created if ref() is not None)

    def __exit__(self, *exc_info) -> None:
        self._scope.__exit__(*exc_info)
        self._construction.__exit__(*exc_info)
        gc.collect()
        self.created = len(self._created)
        self.alive_after = self.alive_now()
        self._created.clear()
