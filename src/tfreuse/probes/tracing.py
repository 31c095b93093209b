"""Trace counting: actual trace events and tf.function cache growth, kept apart on purpose.

`experimental_get_tracing_count()` is the size of the function's cache, not a count of traces:
a first call that creates variables leaves two entries for one logical trace. A Python counter in
the traced body counts traces exactly, because the body only runs while TensorFlow traces it.

Two mechanisms on purpose. The scenarios' counts come from that counter (`TraceCounter`, also
inside every `CountedFunction`): public behaviour only, and nothing runs per call, so it can sit
inside the timer. `TraceLog` (the guard and watch) records every trace in the process with what
changed (and where each tf.function object was made), through TensorFlow's private tracing hooks
and a stack walk per trace: it would put that cost inside the timed steps of every retracing
variant and count Keras' and the `shared` reference's traces too, so the harness does not count
with it.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import weakref
from collections.abc import Callable
from typing import Any

from tfreuse.probes.stack import SourceLine


class TraceCounter:
    """Counts the traces of a body that calls `count()`: every CountedFunction's, and functions a
    scenario does not compile through the harness.

    Keras makes its own tf.functions for `fit` and `predict`, and some scenarios create a new
    tf.function every step; neither can be a CountedFunction held by the harness (holding every
    new function would keep it alive). Their traced body calls `count()`, which counts only while
    TensorFlow traces (not in eager execution). No cache to read: `cache_size` stays 0.
    """

    cache_size = 0

    def __init__(self):
        self.trace_events = 0

    def count(self) -> None:
        """Count one trace if called while TensorFlow is tracing a graph."""
        import tensorflow as tf

        if not tf.executing_eagerly():
            self.trace_events += 1


class CountedFunction:
    """A tf.function whose Python body counts how often TensorFlow traced it (with a TraceCounter)."""

    def __init__(self, body: Callable, **tf_function_options: Any):
        import tensorflow as tf

        self.counter = TraceCounter()

        @functools.wraps(body)
        def traced_body(*args, **kwargs):
            self.counter.count()
            return body(*args, **kwargs)

        self.function = tf.function(traced_body, **tf_function_options)

    def __call__(self, *args, **kwargs):
        return self.function(*args, **kwargs)

    @property
    def trace_events(self) -> int:
        """Traces of the body so far."""
        return self.counter.trace_events

    @property
    def cache_size(self) -> int:
        """Entries in the tf.function cache (what `experimental_get_tracing_count` returns)."""
        return self.function.experimental_get_tracing_count()


class TraceWindow:
    """Counts trace events and cache growth of a set of CountedFunctions over a `with` block."""

    def __init__(self, functions: list[CountedFunction]):
        self._functions = functions
        self.trace_events = 0
        self.cache_delta = 0

    def cache_entries(self) -> int:
        """Entries in the functions' tf.function caches now."""
        return sum(f.cache_size for f in self._functions)

    def _totals(self) -> tuple[int, int]:
        return sum(f.trace_events for f in self._functions), self.cache_entries()

    def __enter__(self) -> TraceWindow:
        self._start = self._totals()
        return self

    def __exit__(self, *exc_info) -> None:
        events, cache = self._totals()
        self.trace_events = events - self._start[0]
        self.cache_delta = cache - self._start[1]


# --- Every trace in the process, and what changed since the function's previous one -------------

@dataclasses.dataclass(frozen=True)
class Change:
    """One argument that differs between a function's previous trace and this one."""

    argument: str  # `lr`, `inputs[0]`, `config['rate']`
    what: str  # "Python float", "shape", "dtype", "object", "structure"
    old: str
    new: str

    def __str__(self) -> str:
        if self.what == "object":
            return f"`{self.argument}`: a different {self.old.split(' ')[0]} object ({self.old} -> {self.new})"
        return f"`{self.argument}`: {self.what} {self.old} -> {self.new}"


@dataclasses.dataclass(frozen=True)
class TraceEvent:
    """TensorFlow traced a tf.function: which one, from where, and what changed since its last trace."""

    function: str  # the name TensorFlow gives it (the Python function's name)
    defined_at: SourceLine | None
    called_at: tuple[SourceLine, ...]  # the user's frames that called it, innermost first
    trace_number: int  # 1 for this function object's first trace
    function_objects: int  # distinct tf.function objects from the same `def` traced so far
    changes: tuple[Change, ...]  # empty for a first trace
    signature: str
    # The user's frames that made this tf.function object (innermost first), when it was made
    # while a TraceLog was open; empty otherwise.
    made_at: tuple[SourceLine, ...] = ()

    @property
    def retrace(self) -> bool:
        """A trace of a function object that had been traced before."""
        return self.trace_number > 1

    @property
    def made_elsewhere(self) -> SourceLine | None:
        """The line that made the tf.function object, if it is neither its `def` nor the call."""
        if not self.made_at:
            return None
        others = {self.defined_at.location if self.defined_at else None,
                  self.called_at[0].location if self.called_at else None}
        return self.made_at[0] if self.made_at[0].location not in others else None

    def describe(self) -> str:
        """One paragraph a finding prints: function, where, why."""
        where = f" (defined at {self.defined_at.location})" if self.defined_at else ""
        called = f", called at {self.called_at[0]}" if self.called_at else ""
        head = f"tf.function `{self.function}`{where} traced again{called}"
        if self.retrace:
            because = ("\n      " + "\n      ".join(str(change) for change in self.changes)
                       if self.changes else
                       "\n      no argument changed: TensorFlow traced it for another context "
                       "(device, graph or captured values)")
            return f"{head} (trace {self.trace_number} of this function object):{because}"
        if self.function_objects > 1:
            made = self.made_elsewhere
            return (f"{head}: a new tf.function object made from the same `def` "
                    f"({self.function_objects} so far); create the tf.function once, outside the step"
                    + (f"\n      made at {made.noted('tf.function constructed here')}" if made else ""))
        return f"tf.function `{self.function}`{where} traced for the first time{called}"


def _shape(spec) -> str:
    from tfreuse.probes.census import format_shape

    return format_shape(spec.shape.as_list()) if spec.shape.rank is not None else "<unknown rank>"


@dataclasses.dataclass(frozen=True)
class _Argument:
    """One leaf of a traced signature, described while its objects are alive."""

    constraint: Any
    kind: str  # "tensor", "python", "object", "other"
    shape: str = ""
    dtype: str = ""
    text: str = ""


def _describe_constraint(constraint) -> _Argument:
    from tensorflow.core.function.trace_type import default_types

    if hasattr(constraint, "shape") and hasattr(constraint, "dtype"):
        return _Argument(constraint, "tensor", _shape(constraint), constraint.dtype.name)
    if isinstance(constraint, default_types.Literal):
        value = constraint.value
        return _Argument(constraint, "python", dtype=type(value).__name__, text=repr(value))
    if isinstance(constraint, default_types.Weakref):
        referent = constraint.placeholder_value(None)  # the object itself (TraceType's public protocol)
        name = getattr(referent, "name", None)
        label = f"{type(referent).__name__} {name!r}" if isinstance(name, str) else type(referent).__name__
        return _Argument(constraint, "object", text=f"{label} at {id(referent):#x}")
    return _Argument(constraint, "other", text=repr(constraint))


def _flatten(constraint, path: str, into: dict) -> None:
    """Leaves of a nested signature by path (`x`, `batch[0]`, `config['rate']`)."""
    from tensorflow.core.function.trace_type import default_types

    if isinstance(constraint, default_types.List):  # a List holds its items as a Tuple
        constraint = constraint.components_tuple
    if isinstance(constraint, default_types.Tuple):
        for index, component in enumerate(constraint.components):
            _flatten(component, f"{path}[{index}]", into)
    elif isinstance(constraint, default_types.Dict):
        for key, component in constraint.mapping.items():
            _flatten(component, f"{path}[{key!r}]", into)
    else:
        into[path] = _describe_constraint(constraint)


def signature_arguments(function_type) -> dict[str, _Argument]:
    """A traced FunctionType's arguments, flattened to leaves and described."""
    leaves: dict[str, _Argument] = {}
    for name, parameter in function_type.parameters.items():
        _flatten(parameter.type_constraint, name, leaves)
    return leaves


def _text(argument: _Argument) -> str:
    if argument.kind == "tensor":
        return f"tensor {argument.shape} {argument.dtype}"
    if argument.kind == "python" and argument.text != "None":
        return f"Python {argument.dtype} {argument.text}"
    return argument.text


def _same(old: _Argument, new: _Argument) -> bool:
    try:
        return bool(old.constraint == new.constraint)
    except Exception:  # noqa: BLE001 - a user object's __eq__ may raise; TensorFlow then retraced anyway
        return False


def changes_between(old: dict[str, _Argument], new: dict[str, _Argument]) -> tuple[Change, ...]:
    """Argument by argument, what differs between two traces' signatures."""
    found = []
    for path in list(old) + [path for path in new if path not in old]:
        before, after = old.get(path), new.get(path)
        if before is None or after is None:
            found.append(Change(path, "structure", _text(before) if before else "absent",
                                _text(after) if after else "absent"))
        elif _same(before, after):
            continue
        elif before.kind == after.kind == "tensor":
            if before.shape != after.shape:
                found.append(Change(path, "shape", before.shape, after.shape))
            if before.dtype != after.dtype:
                found.append(Change(path, "dtype", before.dtype, after.dtype))
            if before.shape == after.shape and before.dtype == after.dtype:
                found.append(Change(path, "tensor spec", repr(before.constraint), repr(after.constraint)))
        elif before.kind == after.kind == "python" and before.dtype == after.dtype:
            found.append(Change(path, f"Python {before.dtype}", before.text, after.text))
        elif before.kind == after.kind == "object":
            found.append(Change(path, "object", before.text, after.text))
        else:
            found.append(Change(path, "value", _text(before), _text(after)))
    return tuple(found)


def _on_every_trace(callback: Callable[[Any, Any], None]) -> Callable[[], None]:
    """Call `callback(concrete_function, tracing_options)` after every trace; returns the remover.

    The one place that relies on TensorFlow's private tracing code (2.21): every new concrete
    function passes through `transform.CONCRETE_FUNCTION_CALLBACKS`, a list of callbacks TensorFlow
    itself calls from `tracing_compilation._create_concrete_function`; that frame's
    `tracing_options` says which tf.function it belongs to (its cache) and under which scope.
    Nothing of TensorFlow's is replaced. tests/test_guard.py fails if any of this changes.
    """
    try:
        from tensorflow.python.eager.polymorphic_function import tracing_compilation, transform

        callbacks = transform.CONCRETE_FUNCTION_CALLBACKS
        creator_code = tracing_compilation._create_concrete_function.__code__  # noqa: SLF001 - see above
    except (ImportError, AttributeError) as exc:
        import tensorflow as tf

        raise RuntimeError(f"tfreuse cannot see tf.function traces in TensorFlow {tf.__version__}: "
                           f"its tracing internals changed ({exc})") from exc

    def hook(concrete_function):
        frame = sys._getframe(1)
        while frame is not None and frame.f_code is not creator_code:
            frame = frame.f_back
        callback(concrete_function, frame.f_locals.get("tracing_options") if frame else None)

    callbacks.append(hook)
    return lambda: callbacks.remove(hook)


def _on_every_function_made(callback: Callable[[Any, Any], None]) -> Callable[[], None]:
    """Call `callback(function, caller_frame)` as each tf.function object is made; returns the
    function that undoes it.

    TensorFlow offers no hook on making a tf.function, and a trace only shows where it is called
    (`f = tf.function(g)` made in a loop and called on the next line). This is the one place that
    relies on how TensorFlow makes them (2.21): `tf.function`, a method's per-object copy and
    Keras' train functions all construct `polymorphic_function.Function`, whose `__init__` is
    replaced by one that calls the original, then `callback`; undoing puts the original back.
    tests/test_guard.py fails if a tf.function stops passing through it.
    """
    try:
        from tensorflow.python.eager.polymorphic_function import polymorphic_function

        cls = polymorphic_function.Function
        original = vars(cls)["__init__"]
    except (ImportError, AttributeError, KeyError) as exc:
        import tensorflow as tf

        raise RuntimeError(f"tfreuse cannot see where tf.functions are made in TensorFlow "
                           f"{tf.__version__}: its tf.function class changed ({exc})") from exc

    @functools.wraps(original)
    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        callback(self, sys._getframe(1))

    cls.__init__ = init

    def undo() -> None:
        if vars(cls).get("__init__") is init:
            cls.__init__ = original

    return undo


# id(function cache) -> (weak reference to the tf.function, the user's frames that made it)
_MADE: dict[int, tuple[weakref.ref, tuple[SourceLine, ...]]] = {}
_MAKING: dict[str, Any] = {"logs": 0, "undo": None}


def _record_made(function, frame) -> None:
    from tfreuse.probes.stack import user_frames

    key = id(function._function_cache)  # noqa: SLF001 - the cache a trace's options hold

    def forget(ref, key=key):
        if _MADE.get(key, (None,))[0] is ref:
            del _MADE[key]

    _MADE[key] = (weakref.ref(function, forget), user_frames(frame))


def made_at(function_cache) -> tuple[SourceLine, ...]:
    """The user's frames that made the tf.function holding `function_cache` (while a TraceLog was
    open), innermost first; empty if unknown."""
    entry = _MADE.get(id(function_cache))
    function = entry[0]() if entry else None
    if function is None or getattr(function, "_function_cache", None) is not function_cache:
        return ()
    return entry[1]


@dataclasses.dataclass
class _FunctionHistory:
    options: list  # weak references to the TracingOptions seen (a tf.function has two, one cache)
    previous: dict
    previous_scope: Any
    traces: int = 0
    made_at: tuple = ()  # the user's frames that made the tf.function object

    def belongs(self, options) -> bool:
        """Whether `options` is of this function: its cache is still held by options seen before."""
        cache = options.function_cache
        alive = [ref() for ref in self.options]
        if not any(seen is not None and seen.function_cache is cache for seen in alive):
            return False
        if all(seen is not options for seen in alive):
            self.options.append(weakref.ref(options))
        return True


class TraceLog:
    """Every tf.function trace in the process while active, with what changed since the last one.

    Functions are told apart by TensorFlow's cache object (checked through weak references to the
    tracing options holding it: a collected function's successor at the same address is new).
    TensorFlow's own internal functions (variable initialisers) are left out; Keras' are kept (a
    recompiled model retraces them).
    The second pass TensorFlow makes over a function that created variables on its first call
    (same signature, scope changed) is not a trace of its own.
    """

    def __init__(self):
        self.events: list[TraceEvent] = []
        self.errors: list[str] = []
        self._histories: dict[int, _FunctionHistory] = {}
        self._objects_per_definition: dict[tuple, int] = {}

    def __enter__(self) -> TraceLog:
        self._remove = _on_every_trace(self._record)
        if _MAKING["logs"] == 0:
            _MAKING["undo"] = _on_every_function_made(_record_made)
        _MAKING["logs"] += 1
        return self

    def __exit__(self, *exc_info) -> None:
        self._remove()
        _MAKING["logs"] -= 1
        if _MAKING["logs"] == 0:
            _MAKING["undo"]()
            _MAKING["undo"] = None
            _MADE.clear()

    def _record(self, concrete_function, options) -> None:
        try:
            self._record_trace(concrete_function, options)
        except Exception as exc:  # noqa: BLE001 - never break the user's tracing; the guard reports it
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def _record_trace(self, concrete_function, options) -> None:
        from tfreuse.probes.stack import caller_frames, definition_site

        python_function = getattr(options, "python_function", None)
        defined_at = definition_site(python_function) if python_function is not None else None
        if defined_at is not None and _is_tensorflow(defined_at.file):
            return
        arguments = signature_arguments(concrete_function.function_type)
        cache = getattr(options, "function_cache", None)
        scope = getattr(options, "scope_type", None)
        history = self._histories.get(id(cache)) if cache is not None else None
        # A collected function's cache address may be reused by a new function: check it is alive.
        if history is not None and not history.belongs(options):
            history = None
        site = (defined_at.file, defined_at.line) if defined_at else getattr(options, "name", "?")
        if history is None:
            history = _FunctionHistory([weakref.ref(options)] if cache is not None else [], {}, None,
                                       made_at=made_at(cache) if cache is not None else ())
            if cache is not None:
                self._histories[id(cache)] = history
                # Traced before this log started: TensorFlow's cache holds those traces, in order.
                for earlier in _earlier_traces(cache):
                    if not history.traces or changes_between(history.previous, earlier):
                        history.previous, history.traces = earlier, history.traces + 1
            self._objects_per_definition[site] = self._objects_per_definition.get(site, 0) + 1
        changes = changes_between(history.previous, arguments) if history.traces else ()
        second_pass = (history.traces and not changes and scope is not None
                       and scope.name == "NO_VARIABLE_CREATION"
                       and getattr(history.previous_scope, "name", "VARIABLE_CREATION") == "VARIABLE_CREATION")
        history.previous, history.previous_scope = arguments, scope
        if second_pass:
            return
        objects = self._objects_per_definition.get(site, 1)
        history.traces += 1
        name = getattr(options, "name", None) or concrete_function.graph.name
        self.events.append(TraceEvent(name, defined_at, caller_frames(), history.traces, objects,
                                      changes, str(concrete_function.function_type).split(" -> ")[0],
                                      history.made_at))


def _earlier_traces(cache) -> list[dict]:
    """The signatures a tf.function's cache already holds (oldest first), as `signature_arguments`."""
    return [signature_arguments(concrete.function_type) for concrete in cache.values()]


def _is_tensorflow(filename: str) -> bool:
    module = sys.modules.get("tensorflow")
    folder = os.path.dirname(os.path.realpath(module.__file__)) if module else None
    return bool(folder) and os.path.realpath(filename).startswith(folder + os.sep)
