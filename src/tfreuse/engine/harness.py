"""The harness: the one place that times, probes and records a variant of a scenario.

A scenario says how to make a step for each variant (a method named after the variant that
returns a zero-argument callable). The harness runs it on one device in one mode:

1. makes the step and times its first call apart (build + trace: `first_step_s`);
2. warms up, so the steady state is what gets measured (and times the step);
3. hands the step to pytest-benchmark for the timed rounds (as many as the profile's time budget
   allows at the warm-up's step time), while the probes count traces, variables and RSS growth
   over the same rounds; in a paired profile, the same situation's `shared` step is timed
   before each round (`tfreuse.engine.pairing`), so each round has a ratio of its own;
4. runs an untimed memory window of its own: bytes retained per step (bytes in use after a
   gc.collect(), read after every step), cache entries and live variables per step;
5. writes every figure into `benchmark.extra_info` under the documented schema.

Run state (the `shared` step kept for a situation's variants, `shared`'s learning runs) lives in
the run's `Session`; pytest-benchmark is reached only through `Timer`.

In a process that counts instructions (`tfreuse instructions`, `tfreuse ab`: pytest under
valgrind, `Profile.instructions`), steps 3-4 give way to `_instruction_figures`: the steady steps
are counted, not timed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from tfreuse.core import devices, schema
from tfreuse.core.errors import VariantUnavailable, first_line
from tfreuse.core.profiles import Profile
from tfreuse.core.roles import BASELINE, FIX, MODE_PHRASES, Variant, by_name, declared, record_fields
from tfreuse.engine import conditions
from tfreuse.engine.pairing import SharedReference
from tfreuse.engine.session import Session
from tfreuse.engine.timer import Timer
from tfreuse.probes import instructions, resources
from tfreuse.probes.census import VariableWindow
from tfreuse.probes.memory import DEFAULT_HEADROOM, MemoryWindow, RetainedWindow, sampling_interval
from tfreuse.probes.tracing import CountedFunction, TraceCounter, TraceWindow

MODES = ("eager", "function", "jit")
TIMING_ONLY = "not measured: a timing-only process (`tfreuse bench` measures memory in its first process)"
_TF_FUNCTION_OPTIONS = {"function": {}, "jit": {"jit_compile": True}}


@dataclass(frozen=True)
class Case:
    """One benchmark: a variant of a scenario in a mode, on a device, at a size."""

    scenario: str
    variant: str
    mode: str
    device: str
    size: str

    @property
    def id(self) -> str:
        """Readable pytest id, e.g. `shared-function-CPU:0-small`."""
        return f"{self.variant}-{self.mode}-{self.device}-{self.size}"


@dataclass
class Context:
    """What a scenario's variant method gets: the case, its size parameters and `compile`."""

    case: Case
    params: Mapping[str, Any]
    profile: Profile
    functions: list[CountedFunction | TraceCounter] = field(default_factory=list)

    @property
    def mode(self) -> str:
        """`eager`, `function` or `jit`."""
        return self.case.mode

    def compile(self, body: Callable, **tf_function_options: Any) -> Callable:
        """`body` as this mode runs it: unchanged in eager mode, else a trace-counted tf.function."""
        if self.mode == "eager":
            return body
        options = {**_TF_FUNCTION_OPTIONS[self.mode], **tf_function_options}
        function = CountedFunction(body, **options)
        self.functions.append(function)
        return function

    def trace_counter(self) -> TraceCounter:
        """A counter whose `count()`, called in a body that Keras or the step itself turns into a
        tf.function, adds that body's traces to this case's trace figures."""
        counter = TraceCounter()
        self.functions.append(counter)
        return counter


@dataclass
class Step:
    """A step plus the scenario's own figures.

    `figures()` is read once after measuring (e.g. parameter bytes). Training scenarios also give
    `evaluate()`, the current loss (and any other state figure) of the variant's model, from which
    the harness works out how much learning the variant keeps.
    """

    run: Callable[[], Any]
    figures: Callable[[], dict] = dict
    evaluate: Callable[[], dict] | None = None

    def __call__(self) -> Any:
        return self.run()


class Scenario:
    """Base of every scenario: declares its axes; subclasses add one method per variant.

    `expected_errors` maps (variant, mode) to the exception TensorFlow raises for it: such a
    variant is recorded with `outcome: error` (a finding), as is a `VariantUnavailable` raised by
    any variant (one that cannot run for this layer, with the reason); any other exception fails
    the test.
    `skips` maps (variant, mode) to the reason that combination is not run.
    A training scenario sets `learning_steps`: each variant and `shared` are then trained that many
    steps from the same start, and the loss reductions compared (`learning_retained`).
    `variants` maps each variant to its meaning (a `Variant`: the baseline, an anti-pattern or a
    fix, and the phrase a report uses), or is a tuple of names that follow the naming convention
    (`tfreuse.core.roles.by_name`); `mode_phrases` names the modes in a report's sentences.
    """

    name: ClassVar[str]
    variants: ClassVar[Mapping[str, Variant | str] | tuple[str, ...]]
    modes: ClassVar[tuple[str, ...]] = ("eager", "function")
    mode_phrases: ClassVar[Mapping[str, str]] = MODE_PHRASES
    sizes: ClassVar[Mapping[str, Mapping[str, Any]]]
    expected_errors: ClassVar[Mapping[tuple[str, str], type[BaseException]]] = {}
    skips: ClassVar[Mapping[tuple[str, str], str]] = {}
    learning_steps: ClassVar[int | None] = None

    def make_step(self, ctx: Context) -> Step:
        """Build the state of `ctx.case.variant` and return its step."""
        step = getattr(self, ctx.case.variant)(ctx)
        return step if isinstance(step, Step) else Step(step)

    def meaning(self, variant: str) -> Variant:
        """What `variant` is: its role, phrase and (a fix) the figures it must bring back."""
        return declared(self.variants)[variant]

    def skip_reason(self, variant: str, mode: str) -> str | None:
        """Why this combination is not run, or None when it is."""
        return self.skips.get((variant, mode))

    def cases(self, device_names: list[str], all_sizes: bool = True) -> list[Case]:
        """Every case of this scenario on the given devices (first size only unless `all_sizes`)."""
        sizes = list(self.sizes) if all_sizes else list(self.sizes)[:1]
        return [
            Case(self.name, variant, mode, device, size)
            for size in sizes
            for mode in self.modes
            for variant in self.variants
            for device in device_names
        ]


def base_record(case: Case, params: Mapping[str, Any], profile: Profile, scenario: Scenario | None = None) -> dict:
    """The record of `case` before it is measured: the schema's defaults, which case it is and what
    its variant and mode mean (`meaning_fields`)."""
    return schema.new_record(scenario=case.scenario, variant=case.variant, mode=case.mode, device=case.device,
                             size=case.size, size_params=dict(params), profile=profile.name,
                             **meaning_fields(scenario, case))


def _meaning(scenario: Scenario | None, variant: str) -> Variant:
    """What `variant` means: as the scenario declares, or by the naming convention without one."""
    return scenario.meaning(variant) if scenario is not None else by_name(variant)


def meaning_fields(scenario: Scenario | None, case: Case) -> dict:
    """The record's account of what the case's variant and mode mean, as the scenario declares
    (without a scenario, the naming convention's: `tfreuse.core.roles.by_name`)."""
    phrases = scenario.mode_phrases if scenario is not None else MODE_PHRASES
    return record_fields(_meaning(scenario, case.variant), phrases.get(case.mode, case.mode))


def counts_instructions(scenario: Scenario | None, variant: str) -> bool:
    """Whether a variant's instructions are counted: the reuse baseline and the fixes, as the
    scenario declares them (the naming convention's roles without one). An anti-pattern's cost is
    gated by its exact figures (traces and variables per step) and takes seconds a step under
    valgrind, so it is not counted."""
    return _meaning(scenario, variant).role in (BASELINE, FIX)


def with_wait(step: Callable[[], Any], device: str) -> Callable[[], Any]:
    """`step` followed by a wait for `device` to finish its work (a GPU's), so a timer around it
    stops after the kernels ran; `step` itself where there is nothing to wait for (a CPU)."""
    wait = devices.waiter(device)
    if wait is None:
        return step

    def step_then_wait():
        step()
        wait()

    return step_then_wait


def warm_up(step: Callable[[], Any], steps: int) -> float:
    """Run `steps` warm-up steps under one timer; return their mean duration, which sizes the
    measured phases."""
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps if steps else 0.0


def _shared_reference(scenario: Scenario, ctx: Context, session: Session) -> SharedReference:
    """The `shared` step of `ctx`'s situation, built and warmed up once for all its variants.

    One slot, the session's: the `shared` case leaves its own step there (it runs first in the
    default order); otherwise the first variant of the situation builds one, with a context of its
    own so the probes never count its traces, outside the probe windows.
    """
    kept = session.kept_reference(scenario, ctx.case)
    if kept is not None:
        return kept
    case = replace(ctx.case, variant="shared")
    step = with_wait(scenario.make_step(Context(case, ctx.params, ctx.profile)), case.device)
    step()  # build and trace, kept out of the warm-up's timing
    return session.keep_reference(scenario, case, SharedReference(step, warm_up(step, ctx.profile.warmup_steps)))


def _measured_rounds(timer: Timer, step: Callable[[], Any], ctx: Context, step_seconds: float,
                     reference: SharedReference | None) -> dict:
    """Time the case's rounds inside the probes; return the probes' figures as record keys.

    How many rounds: those that fit the profile's time budget (`rounds_within_budget`): the
    spread that matters is between processes, which `tfreuse bench` repeats, not between rounds.
    Counting traces and variables costs nothing per call (the counters run only while
    TensorFlow traces or a variable is created); RSS is read between rounds, outside the timer
    (after every few rounds for fast steps: see `sampling_interval`), and the `shared` reference
    steps (if any) are timed before each round, also outside it.
    """
    profile = ctx.profile
    if reference is not None:
        reference.start(step_seconds)
    round_seconds = step_seconds + (reference.round_seconds if reference is not None else 0)
    every = sampling_interval(step_seconds)
    with TraceWindow(ctx.functions) as traces, MemoryWindow(ctx.case.device, every) as memory:
        with VariableWindow() as variables:
            timer.rounds(step, profile.rounds_within_budget(round_seconds), after_each=memory.sample,
                         before_each=reference.before_round if reference is not None else None)
    steps = memory.steps_seen
    return {
        "measured_steps": steps,
        "trace_events": traces.trace_events,
        "traces_per_step": traces.trace_events / steps if steps else 0.0,
        "tracing_cache_delta": traces.cache_delta,
        "variables_created": variables.created,
        "live_variables_delta": variables.alive_after,
        "rss_growth_per_step_bytes": memory.growth_per_step,
        "rss_peak_delta_bytes": memory.peak_delta,
        "allocator_current_delta_bytes": memory.allocator_current_delta,
        "allocator_peak_bytes": memory.allocator_peak,
        "allocator_peak_delta_bytes": memory.allocator_peak_delta,
        "shared_samples_s": list(reference.samples) if reference is not None else None,
    }


def _pool_headroom(measured: dict, steps: int) -> int:
    """Free bytes to secure in TensorFlow's CPU pool before the memory window: twice what the
    timed rounds suggest the window's tensors need at most (peak, plus growth over `steps`)."""
    peak = max(0, measured.get("allocator_peak_delta_bytes") or 0)
    growth = max(0, measured.get("allocator_current_delta_bytes") or 0)
    per_step = growth / measured["measured_steps"] if measured.get("measured_steps") else 0
    return max(DEFAULT_HEADROOM, int(2 * (peak + per_step * steps)))


def _retained_memory(step: Callable[[], Any], ctx: Context, step_seconds: float, measured: dict) -> dict:
    """Bytes, cache entries and variables the case keeps per step, from an untimed window.

    After the timed rounds, so neither the collections nor the reads (~1 ms a step) touch a
    timed step: the profile's `memory_window_steps` steps, each followed by a gc.collect() and a
    reading of bytes in use (see `RetainedWindow`), tf.function cache entries and live
    variables made in the window. Figures are slopes per step, so they do not depend on how many
    steps ran; `variables_created_per_step` is a plain count over the window's steps.
    """
    steps = ctx.profile.memory_window_steps(step_seconds)
    traces = TraceWindow(ctx.functions)
    variables = VariableWindow()
    counters = {"cache_entries": traces.cache_entries, "variables_alive": variables.alive_now,
                "descriptors": resources.open_descriptors, "threads": resources.threads}
    # The VariableWindow closes inside the RetainedWindow, so its collection finds the heap frozen.
    with RetainedWindow(ctx.case.device, counters, _pool_headroom(measured, steps)) as memory:
        with traces, variables:
            for _ in range(steps):
                step()
                memory.sample()
    return {
        "memory_window_steps": steps,
        "retained_bytes_per_step": memory.retained_per_step,
        "retained_components": memory.components,
        "retained_unavailable": memory.unavailable,
        "retained_native_heap_bytes_per_step": memory.slope("native_heap"),
        "retained_python_heap_bytes_per_step": memory.slope("python_heap"),
        "retained_allocator_bytes_per_step": memory.slope("allocator"),
        "cache_entries_per_step": memory.slope("cache_entries", digits=3),
        "variables_created_per_step": round(variables.created / steps, 3),
        "variables_alive_per_step": memory.slope("variables_alive", digits=3),
        "descriptors_per_step": memory.typical_step("descriptors"),
        "threads_per_step": memory.typical_step("threads"),
    }


RECREATES = ("not counted: the step traced or created variables while warming up, so it re-creates "
             "every step; its traces and variables per step gate it exactly")


def _instruction_figures(timer: Timer, step: Callable[[], Any], ctx: Context) -> dict:
    """Instructions per step of a warmed-up case, counted under valgrind (`probes.instructions`).

    The warm-up steps are watched: a step that still traces or creates variables (a fix that does
    not fix) re-creates every step, costs seconds a step under valgrind, and is gated exactly by
    its traces and variables, so it is not counted. The case's one timed round is the counted
    window (its time is valgrind's, not the machine's): pytest-benchmark then keeps its row; for a
    step not counted, that round times nothing.
    """
    with TraceWindow(ctx.functions) as traces, VariableWindow() as variables:
        warm_up(step, ctx.profile.warmup_steps)
    if traces.trace_events or variables.created:
        timer.once(lambda: None)
        return {"instructions_unavailable": RECREATES}
    figures: dict = {}
    timer.once(lambda: figures.update(instructions.count(step, name=ctx.case.id)))
    return figures


def stability(summary: Mapping[str, Any] | None) -> dict:
    """pyperf-style flags (`timing_rsd`, `timing_unstable`) from the statistics of the timed rounds
    (`Timer.summary()`); none when nothing was timed."""
    if not summary or not summary.get("mean"):
        return {}
    rsd, unstable = schema.timing_stability(summary["stddev"] if summary["rounds"] > 1 else 0.0, summary["mean"],
                                            summary["rounds"])
    return {"timing_rsd": float(rsd), "timing_unstable": bool(unstable)}


@dataclass
class FirstStep:
    """A case's step after its first call: the step, the step with its device wait, and that call's
    duration and traces."""

    step: Step
    timed_step: Callable[[], Any]
    seconds: float
    trace_events: int


@dataclass
class Refusal:
    """A variant that did not run: the error, the seconds until it, and the kind it is known for
    (the scenario's expected error, or `VariantUnavailable`)."""

    error: Exception
    seconds: float
    kind: type[BaseException]


def _first_step(scenario: Scenario, ctx: Context) -> FirstStep | Refusal:
    """Make the case's step and call it once: its build and first trace (`first_step_s`).

    Inside the timer: the first call with its device wait; making the step is outside, unless the
    variant is refused while making it (a refusal's time runs from making to the error). A refusal
    the scenario expects (or `VariantUnavailable`) is returned; any other error, or an expected
    refusal that does not come, fails the test.
    """
    expected = scenario.expected_errors.get((ctx.case.variant, ctx.case.mode))
    started = time.perf_counter()
    try:
        step = scenario.make_step(ctx)
        timed_step = with_wait(step, ctx.case.device)
        with TraceWindow(ctx.functions) as first_traces:
            started = time.perf_counter()
            timed_step()
    except Exception as exc:
        kind = expected if expected is not None and isinstance(exc, expected) else (
            VariantUnavailable if isinstance(exc, VariantUnavailable) else None)
        if kind is None:
            raise
        return Refusal(exc, time.perf_counter() - started, kind)
    seconds = time.perf_counter() - started
    if expected is not None:
        raise AssertionError(f"{ctx.case.id}: expected TensorFlow to raise {expected.__name__}, but the step ran")
    return FirstStep(step, timed_step, seconds, first_traces.trace_events)


def _refusal_figures(timer: Timer, scenario: Scenario, ctx: Context, refusal: Refusal) -> dict:
    """A refused variant's figures: outcome `error`, the error's type and first line, and the time
    until it (`first_step_s`). Then one more attempt inside pytest-benchmark's timer (one round),
    so the refusal still has a row in the JSON next to its siblings."""
    figures = {"outcome": "error", "error_type": type(refusal.error).__name__,
               "error_message": first_line(refusal.error), "first_step_s": refusal.seconds}
    timer.once(_attempt, scenario, ctx, refusal.kind)
    return figures


def _steady_figures(timer: Timer, scenario: Scenario, ctx: Context, first: FirstStep, session: Session) -> dict:
    """After the first step: warm up (timed as a whole, to size the rounds), then pytest-benchmark's
    timed rounds inside the probes (one step inside each round's timer; the `shared` reference and
    the memory reads outside it), then (unless timing only) the untimed memory window and the
    learning runs; the record's figures."""
    profile, case, step, timed_step = ctx.profile, ctx.case, first.step, first.timed_step
    paired = profile.paired_shared and case.variant != "shared"
    reference = _shared_reference(scenario, ctx, session) if paired else None
    step_seconds = warm_up(timed_step, profile.warmup_steps)
    if profile.paired_shared and case.variant == "shared":
        session.keep_reference(scenario, case, SharedReference(timed_step, step_seconds))
    measured = _measured_rounds(timer, timed_step, ctx, step_seconds, reference)
    figures = {**measured, **stability(timer.summary())}
    if profile.timing_only:
        figures["retained_unavailable"] = TIMING_ONLY
    else:
        figures.update(_retained_memory(timed_step, ctx, step_seconds, measured))
    figures.update(step.figures())
    if scenario.learning_steps and not profile.timing_only:
        # Op determinism on for the learning runs only (so they repeat on GPU), never while timing.
        with conditions.deterministic_ops() as deterministic:
            figures.update(_learning_figures(scenario, ctx, session), learning_deterministic_ops=deterministic)
    return figures


def run_case(benchmark: Any, scenario: Scenario, case: Case, session: Session) -> dict:
    """Measure one case with pytest-benchmark and the probes; return the extra_info record.

    A variant whose cost is the re-creation of state re-creates it inside its step, so inside the
    timer: that is the cost being measured. Setup that every variant shares stays outside.
    `session` holds the run's profile and what earlier cases left for this one (the `shared`
    step and learning runs of the situation).
    """
    import tensorflow as tf

    profile = session.profile
    params = scenario.sizes[case.size]
    record = base_record(case, params, profile, scenario)
    conditions.prepare_case(profile.seed)
    ctx = Context(case, params, profile)
    timer = Timer(benchmark)
    timer.group = f"{case.scenario}-{case.mode}-{case.device}-{case.size}"

    with tf.device(case.device):
        first = _first_step(scenario, ctx)
        if isinstance(first, Refusal):
            record.update(_refusal_figures(timer, scenario, ctx, first))
        else:
            record.update(first_step_s=first.seconds, first_step_trace_events=first.trace_events)
            record.update(_instruction_figures(timer, first.timed_step, ctx) if profile.instructions
                          else _steady_figures(timer, scenario, ctx, first, session))

    schema.validate(record)
    timer.record(record)
    return record


def _train_fresh(scenario: Scenario, ctx: Context, variant: str) -> tuple[dict, dict]:
    """Train a fresh copy of `variant` for `learning_steps` steps; its evaluation before and after."""
    import keras

    keras.utils.set_random_seed(ctx.profile.seed)
    case = replace(ctx.case, variant=variant)
    step = scenario.make_step(Context(case, ctx.params, ctx.profile))
    before = step.evaluate()
    for _ in range(scenario.learning_steps):
        step()
    return before, step.evaluate()


def _learning_figures(scenario: Scenario, ctx: Context, session: Session) -> dict:
    """Loss before/after `learning_steps` steps, and the share of `shared`'s loss reduction kept.

    Run on fresh copies after timing, so the figures do not depend on the profile's lengths.
    """
    before, after = _train_fresh(scenario, ctx, ctx.case.variant)
    # `shared` trains the same way in every variant's case: train it once per situation.
    if ctx.case.variant == "shared":
        session.keep_learning(scenario, ctx.case, (before, after))
    elif session.kept_learning(scenario, ctx.case) is None:
        session.keep_learning(scenario, ctx.case, _train_fresh(scenario, ctx, "shared"))
    reference_before, reference_after = session.kept_learning(scenario, ctx.case)
    reference_gain = reference_before["loss"] - reference_after["loss"]
    gain = before["loss"] - after["loss"]
    extras = {key: value for key, value in after.items() if key != "loss"}
    return {
        "loss_initial": before["loss"],
        "loss_final": after["loss"],
        "learning_steps": scenario.learning_steps,
        "learning_retained": gain / reference_gain if reference_gain > 0 else None,
        **extras,
    }


def _attempt(scenario: Scenario, ctx: Context, expected: type[BaseException]) -> None:
    """Make and call a refused variant once more, swallowing the refusal it is known for."""
    try:
        scenario.make_step(Context(ctx.case, ctx.params, ctx.profile))()
    except expected:
        pass


def benchmark_test(scenario: Scenario) -> Callable:
    """A pytest test function that measures every case of `scenario` (parametrized by the plugin)."""

    def test(tfreuse_run: Callable, tfreuse_case: Case) -> None:
        tfreuse_run(scenario, tfreuse_case)

    test.tfreuse_scenario = scenario
    test.__doc__ = f"Benchmark every case of the {scenario.name!r} scenario."
    return test
