"""Trace counting: actual trace events and tf.function cache growth, kept apart on purpose.

`experimental_get_tracing_count()` is the size of the function's cache, not a count of traces:
a first call that creates variables leaves two entries for one logical trace. A Python counter in
the traced body counts traces exactly, because the body only runs while TensorFlow traces it.
"""

from __future__ import annotations

import functools
from typing import Any, Callable


class CountedFunction:
    """A tf.function whose Python body counts how often TensorFlow traced it."""

    def __init__(self, body: Callable, **tf_function_options: Any):
        import tensorflow as tf

        self.trace_events = 0

        @functools.wraps(body)
        def traced_body(*args, **kwargs):
            self.trace_events += 1
            return body(*args, **kwargs)

        self.function = tf.function(traced_body, **tf_function_options)

    def __call__(self, *args, **kwargs):
        return self.function(*args, **kwargs)

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

    def __enter__(self) -> "TraceWindow":
        self._start = self._totals()
        return self

    def __exit__(self, *exc_info) -> None:
        events, cache = self._totals()
        self.trace_events = events - self._start[0]
        self.cache_delta = cache - self._start[1]
