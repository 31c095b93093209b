"""A reuse guard for a user's own steps: fail when a steady-state step re-creates what it should reuse.

    with ReuseGuard(warmup_steps=1) as guard:
        for batch in batches:
            with guard.step():
                train_step(batch)

After the warm-up steps, a step fails (raises `ReuseError`, an AssertionError, so pytest shows
it as a failed test) when it creates a tf.Variable, when a tf.function traces (a retrace, or a
new tf.function object), when it keeps file descriptors or threads open (a writer, a pipeline or
a callback made per step), or, at the end, when memory kept per step grows beyond the bound. The
message says which variable (name, shape, dtype), which of the user's lines constructed its Keras
layer, optimizer or metric and which built it, and for a trace which arguments changed since the
function's previous trace, read from TensorFlow's own record of each trace. Without `step()` the
whole `with` block counts as one steady-state step (warm up before entering it). The probes are
the harness' own: `probes.census`, `probes.tracing`, `probes.memory`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
from collections.abc import Iterator

from tfreuse.core.units import kib
from tfreuse.probes import memory, resources
from tfreuse.probes.census import CreatedVariable, VariableWindow
from tfreuse.probes.stack import SourceLine
from tfreuse.probes.tracing import TraceEvent, TraceLog

# Memory kept per step that counts as growth, in bytes in use (C heap + pymalloc, the parts of
# the suite's retained figure a guard can read without reserving TensorFlow's pool). A step that
# keeps nothing still reads a little (allocator bookkeeping); a re-created Dense(64) layer kept
# alive by a tf.function cache reads ~250 KB (the suite's retained figure for shared_layer).
# The suite's `shared` variants keep under 1.1 KB/step; eager re-creation ~73 KB/step, so the
# limit sits between them.
DEFAULT_RETAINED_BYTES_PER_STEP = 64 * 1024
# One allocator arena grabbed in a single step reads as 128 KiB or more: with fewer steady steps
# than this the figure is reported (`retained_per_step`) but not judged.
MEMORY_CHECK_MIN_STEPS = 3


class ReuseError(AssertionError):
    """A guarded step re-created variables, retraced a tf.function or kept memory beyond the limits."""


@dataclasses.dataclass(frozen=True)
class Finding:
    """One thing a steady-state step did that it should not have: its kind, step, place and text."""

    kind: str  # "variable", "trace", "descriptor", "thread" or "memory"
    step: int | None  # 1-based step number (None: the whole guarded block)
    where: SourceLine | None  # the user's line to fix (a variable's: its owner's construction)
    message: str


def _where_lines(created: CreatedVariable) -> str:
    """`made at` the owner's construction line (or the variable's line), `built at` the line that
    built it when that differs, each with its callers."""
    return "\n      ".join(created.source_lines())


def variable_finding(step: int | None, created: CreatedVariable) -> Finding:
    """A finding for one tf.Variable created in a steady-state step, placed at the line to fix
    (its owner's construction line when known)."""
    text = f"{created.describe()}\n      {_where_lines(created)}"
    return Finding("variable", step, created.site, text)


def trace_finding(step: int | None, event: TraceEvent) -> Finding:
    """A finding for one tf.function trace in a steady-state step, placed at the calling line (for
    a new tf.function object made on another line, at the line that made it)."""
    new_object = not event.retrace and event.function_objects > 1
    where = event.made_elsewhere if new_object else None
    where = where or (event.called_at[0] if event.called_at else None)
    return Finding("trace", step, where, event.describe())


class ReuseGuard:
    """Context manager that fails a steady-state step which re-creates variables or retraces.

    `warmup_steps` steps marked with `step()` may create and trace freely; every later step may
    trace at most `max_traces` times, create at most `max_new_variables` tf.Variables and leave at
    most `max_new_descriptors` file descriptors and `max_new_threads` threads more open than it
    found, and memory may grow by at most `max_retained_bytes_per_step` per steady step (checked
    at the end, after a garbage collection, if no step failed before and at least
    MEMORY_CHECK_MIN_STEPS steady steps ran; None turns the memory check off). With
    `raise_on_findings=False` nothing is raised: read `findings` and `report()`.
    """

    def __init__(self, warmup_steps: int = 1, max_traces: int = 0, max_new_variables: int = 0,
                 max_retained_bytes_per_step: int | None = DEFAULT_RETAINED_BYTES_PER_STEP,
                 raise_on_findings: bool = True, *, max_new_descriptors: int = 0, max_new_threads: int = 0):
        for name, value in (("warmup_steps", warmup_steps), ("max_traces", max_traces),
                            ("max_new_variables", max_new_variables), ("max_new_descriptors", max_new_descriptors),
                            ("max_new_threads", max_new_threads)):
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"ReuseGuard: {name} must be a whole number >= 0, not {value!r}")
        if max_retained_bytes_per_step is not None and max_retained_bytes_per_step < 0:
            raise ValueError(f"ReuseGuard: max_retained_bytes_per_step must be >= 0 or None, "
                             f"not {max_retained_bytes_per_step!r}")
        self.warmup_steps = warmup_steps
        self.max_traces = max_traces
        self.max_new_variables = max_new_variables
        self.max_new_descriptors = max_new_descriptors
        self.max_new_threads = max_new_threads
        self.max_retained_bytes_per_step = max_retained_bytes_per_step
        self.raise_on_findings = raise_on_findings
        self.findings: list[Finding] = []
        self.steps = 0
        self.retained_per_step: float | None = None
        self._memory_start: int | None = None

    def __enter__(self) -> ReuseGuard:
        self._traces = TraceLog().__enter__()
        self._variables = VariableWindow(sources=True).__enter__()
        self._held_at_start = resources.held()  # for a block without `step()`: one steady step
        return self

    @property
    def steady_steps(self) -> int:
        """Steps after the warm-up so far."""
        return max(0, self.steps - self.warmup_steps)

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """Mark one step; after the warm-up, raise `ReuseError` at its end if it broke a limit."""
        if self.steps == self.warmup_steps:
            self._memory_start = memory.retained_bytes()
        traces, variables = len(self._traces.events), len(self._variables.creations)
        held = resources.held() if self.steps >= self.warmup_steps else None
        yield
        self.steps += 1
        if self.steps > self.warmup_steps:
            self._check(self.steps, traces, variables, held)
        else:  # a warm-up trace may be anything: one tfreuse could not read is no finding either
            self._traces.errors.clear()

    def _check(self, step: int | None, traces_from: int, variables_from: int,
               held: resources.Held | None = None) -> None:
        found = [] if held is None else self._kept_open(step, held)
        created = self._variables.creations[variables_from:]
        if len(created) > self.max_new_variables:
            found += [variable_finding(step, variable) for variable in created]
        traced = self._traces.events[traces_from:]
        if len(traced) > self.max_traces:
            found += [trace_finding(step, event) for event in traced]
        found += [Finding("trace", step, None, f"tfreuse could not read a trace: {error}")
                  for error in self._traces.errors]
        self._traces.errors.clear()
        self.findings += found
        if found and self.raise_on_findings:
            raise ReuseError(self.report(found))

    def _kept_open(self, step: int | None, before: resources.Held) -> list[Finding]:
        """Descriptors and threads the step left open beyond the limits, named where the system says.
        Past a limit, garbage is collected and they are counted again: what only a dropped object in
        a reference cycle held is not left open."""
        now, found = resources.held(), []
        if (now.threads - before.threads > self.max_new_threads
                or (now.descriptor_count or 0) - (before.descriptor_count or 0) > self.max_new_descriptors):
            gc.collect()
            now = resources.held()
        if None not in (now.descriptor_count, before.descriptor_count):
            opened = now.descriptor_count - before.descriptor_count
            if opened > self.max_new_descriptors:
                targets = now.opened_since(before)
                found.append(Finding("descriptor", step, None, f"{opened} file descriptor(s) left open"
                                     + (f": {', '.join(targets)}" if targets else "")))
        started = now.threads - before.threads
        if started > self.max_new_threads:
            named = sorted(now.python_threads - before.python_threads)
            found.append(Finding("thread", step, None, f"{started} thread(s) left running"
                                 + (f" (Python: {', '.join(named)})" if named else " (native)")))
        return found

    def __exit__(self, exc_type, *exc_info) -> None:
        self._variables.__exit__(exc_type, *exc_info)
        self._traces.__exit__(exc_type, *exc_info)
        if exc_type is not None:
            return
        if self.steps == 0:  # no step marked: the block is one steady-state step
            self._check(None, 0, 0, self._held_at_start)
        end = memory.retained_bytes() if self._memory_start is not None else None
        if end is not None and self.steady_steps and not self.findings:
            self.retained_per_step = (end - self._memory_start) / self.steady_steps
            limit = self.max_retained_bytes_per_step
            judged = self.steady_steps >= MEMORY_CHECK_MIN_STEPS
            if limit is not None and judged and self.retained_per_step > limit:
                finding = Finding("memory", None, None,
                                  f"memory kept grew by {kib(self.retained_per_step)} per step over "
                                  f"{self.steady_steps} steady steps (limit {kib(limit)} per step)")
                self.findings.append(finding)
                if self.raise_on_findings:
                    raise ReuseError(self.report([finding]))

    def report(self, findings: list[Finding] | None = None) -> str:
        """The findings as the error message prints them, grouped by step and kind."""
        findings = self.findings if findings is None else findings
        if not findings:
            return "tfreuse guard: no re-creation found"
        lines = [f"tfreuse guard: steady-state steps re-created what they should reuse "
                 f"(after {self.warmup_steps} warm-up step(s); limits per step: {self.max_traces} "
                 f"traces, {self.max_new_variables} new variables)"]
        steps = sorted({finding.step for finding in findings}, key=lambda step: (step is None, step or 0))
        for step in steps:
            at_step = [finding for finding in findings if finding.step == step]
            label = f"step {step}" if step is not None else "the guarded block"
            for kind, title in (("variable", "new tf.Variable(s)"), ("trace", "tf.function trace(s)"),
                                ("descriptor", "open file descriptors"), ("thread", "threads"),
                                ("memory", "memory")):
                of_kind = [finding for finding in at_step if finding.kind == kind]
                if of_kind:
                    counted = kind in ("variable", "trace")
                    heading = f"{label}: {len(of_kind)} {title}" if counted else f"{label}: {title}"
                    lines.append(f"  {heading}:")
                    lines += [f"    {finding.message}" for finding in of_kind]
        return "\n".join(lines)
