"""The extra_info record every tfreuse benchmark writes: keys, units and meaning, in one place.

Reports and outside tools read these keys from pytest-benchmark JSON, so a key is only ever added
(with a bump of SCHEMA_VERSION when keys are added or a meaning changes), never renamed silently.
The report reads every version, each record brought to this layout once as it is loaded
(`tfreuse.report.load.upgrade`: a step per version); a key an older record lacks is a missing
value, never an error.

One list of fields: each names its group and the value a fresh record holds, so a case's record
starts from `new_record`, `--tfreuse-isolate` hands back the `probe` group, and the self-check
compares the figures whose `repeats` says they repeat between runs.

Versions:
1. The first layout (`shared_samples_s` changed meaning twice within it: references timed before
   each round, then sized by the variant's step).
2. Retained memory from bytes in use, in an untimed window (`retained_*`, per-step counts); RSS
   figures secondary; `outcome: error` also for a variant tfreuse cannot build for the layer
   (e.g. a weight with no initializer to re-draw); `learning_deterministic_ops`,
   `optimizer_iterations`.
3. Rounds are the planned ones only: `precision_target` and `rounds_stop` are gone (the spread
   that counts is between processes, which `tfreuse bench` repeats; docs/methodology.md,
   "Intervals"). Each run's machine_info says which measurement and process it was.
4. Instructions per step of the reuse cases, counted under valgrind (`instructions_per_step`,
   `instruction_steps`, `instructions_unavailable`); each run's machine_info says how busy the
   machine was (`machine_info.tfreuse.busy`).
5. Each record says what its variant and mode mean, as the scenario declares them
   (`variant_role`, `variant_phrase`, `fix_restores`, `mode_phrase`); older records get the
   naming convention's meaning when loaded (`tfreuse.core.roles.by_name`). Open file
   descriptors and threads kept per step (`descriptors_per_step`, `threads_per_step`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = 5

OUTCOMES = ("ok", "error")
# pyperf-style stability warning: a relative standard deviation above this, or fewer rounds.
UNSTABLE_RSD = 0.10
MIN_STABLE_ROUNDS = 5


def timing_stability(stddev: Any, mean: Any, rounds: Any) -> tuple[Any, Any]:
    """(`timing_rsd`, `timing_unstable`) from the timed rounds' statistics, numbers or pandas columns.

    The one rule: the harness records it, and the report applies it only to rows without it
    (results of other pytest-benchmark suites, refused variants, and records from before the
    harness wrote these fields). The caller passes a positive mean (NaN where it is not).
    """
    rsd = stddev / mean
    return rsd, (rsd > UNSTABLE_RSD) | (rounds < MIN_STABLE_ROUNDS)


# Two readings of retained bytes per step agree within the larger of these: 16 KB/step absolute
# (allocator bookkeeping moves small figures by a few KB between runs) and 10% of the larger
# reading; a run in default and in reversed order agrees within it (docs/methodology.md,
# "Retained memory, and order independence").
RETAINED_TOLERANCE_BYTES = 16_000
RETAINED_TOLERANCE_RELATIVE = 0.10


def retained_tolerance(first: float, second: float) -> float:
    """How far two readings of retained bytes per step may differ and still agree."""
    return max(RETAINED_TOLERANCE_BYTES, RETAINED_TOLERANCE_RELATIVE * max(abs(first), abs(second)))


# Groups of fields, by who writes them. The harness starts each case's record from the defaults
# (`new_record`); a scenario's own figures are written only by the scenarios that have them.
IDENTITY = "identity"          # which case: scenario, variant, mode, device, size, profile
OUTCOME = "outcome"            # ran, or refused and why
TIMING = "timing"              # the timer's figures, from the process that timed the case
PROBE = "probe"                # traces, variables and memory (`--tfreuse-isolate`: from a fresh process)
INSTRUCTIONS = "instructions"  # counted under valgrind, in a counting process only
SCENARIO = "scenario"          # a scenario's own figures (SCENARIO_FIELDS)
GROUPS = (IDENTITY, OUTCOME, TIMING, PROBE, INSTRUCTIONS, SCENARIO)

# How a figure repeats between runs of one case, whatever ran before it in the process (the
# self-check's order independence): counts exactly, retained bytes within
# `retained_tolerance`.
EXACTLY = "exactly"
WITHIN_TOLERANCE = "within tolerance"

# Defaults that say why a figure is missing until the case measures it.
REFUSED = "not measured: TensorFlow refused the variant"
NOT_COUNTED = ("not counted: instructions are counted by `tfreuse instructions` (and `tfreuse ab`), "
               "which run the cases under valgrind")


@dataclass(frozen=True)
class Field:
    """One key of the record: its JSON type(s), unit, whether it may be null, what it means, its
    group, the value a fresh record holds (`default`) and how it repeats between runs (`repeats`)."""

    name: str
    types: tuple[type, ...]
    unit: str
    meaning: str
    nullable: bool = False
    group: str = ""
    default: Any = None
    repeats: str | None = None

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ValueError(f"schema field {self.name!r}: group {self.group!r} is not one of {GROUPS}")
        if self.repeats not in (None, EXACTLY, WITHIN_TOLERANCE):
            raise ValueError(f"schema field {self.name!r}: repeats {self.repeats!r} is not "
                             f"{EXACTLY!r}, {WITHIN_TOLERANCE!r} or None")


_NUM = (int, float)

FIELDS: tuple[Field, ...] = (
    Field("schema_version", (int,), "-", "Version of this record's layout.", group=IDENTITY, default=SCHEMA_VERSION),
    Field("scenario", (str,), "-", "Scenario name, e.g. `shared_layer`.", group=IDENTITY),
    Field("variant", (str,), "-", "`shared`, `reinstantiated`, `reinitialized`, `mitigated`, ...", group=IDENTITY),
    Field("mode", (str,), "-", "`eager`, `function` (tf.function) or `jit` (XLA).", group=IDENTITY),
    Field("device", (str,), "-", "TensorFlow device the case ran on, e.g. `CPU:0`, `GPU:0`.", group=IDENTITY),
    Field("size", (str,), "-", "Size name of the scenario, e.g. `small`, `large`.", group=IDENTITY),
    Field("size_params", (dict,), "-", "The concrete dimensions behind `size` (batch, units, ...).", group=IDENTITY),
    Field("variant_role", (str,), "-", "What the variant is, as its scenario declares: `baseline` (the reuse "
          "the others are timed against), `anti-pattern` or `fix` (one users are told to apply).", group=IDENTITY),
    Field("variant_phrase", (str,), "-", "The scenario's words for the variant, as a report's sentences use them, "
          "e.g. `re-instantiating a layer every step`.", group=IDENTITY),
    Field("fix_restores", (list,), "-", "A fix: the figures it must bring back to the baseline's, of `time`, "
          "`traces`, `memory`, `learning`, `drift`, `descriptors`, `threads`; the report judges it on those "
          "alone. Empty otherwise.",
          group=IDENTITY),
    Field("mode_phrase", (str,), "-", "The scenario's words for the mode, e.g. `inside tf.function`, or "
          "`with run_eagerly=True` where the mode is Keras' own setting.", group=IDENTITY),
    Field("profile", (str,), "-", "Profile that set rounds, warm-up and the time budget.", group=IDENTITY),
    Field("outcome", (str,), "-", "`ok`, or `error` when TensorFlow refused the variant or it cannot run for "
          "this layer (the message says why).", group=OUTCOME, default="ok"),
    Field("error_type", (str,), "-", "Exception class when outcome is `error`.", nullable=True, group=OUTCOME),
    Field("error_message", (str,), "-", "First line of the exception message.", nullable=True, group=OUTCOME),
    Field(
        "first_step_s", _NUM, "s",
        "Wall time of the first step after the state was made: build plus trace (plus XLA compile).",
        nullable=True,
        group=TIMING,
    ),
    Field(
        "first_step_trace_events", (int,), "traces",
        "Actual traces during the first step: 1 for a function traced once, 2 when that first "
        "call also creates variables, 0 in eager mode.",
        group=PROBE, default=0, repeats=EXACTLY,
    ),
    Field(
        "measured_steps", (int,), "steps",
        "Timed rounds (one step each, after warm-up) over which traces, memory and variables are also counted.",
        group=PROBE, default=0,
    ),
    Field(
        "trace_events", (int,), "traces",
        "Actual traces in the timed rounds: times the Python body of a tf.function ran.",
        group=PROBE, default=0,
    ),
    Field("traces_per_step", _NUM, "traces/step", "`trace_events / measured_steps`.", group=PROBE, default=0.0,
          repeats=EXACTLY),
    Field(
        "tracing_cache_delta", (int,), "entries",
        "Growth of the tf.function cache (`experimental_get_tracing_count`) during the timed rounds; "
        "a variable-creating first call leaves 2 entries for 1 logical trace.",
        group=PROBE, default=0,
    ),
    Field(
        "variables_created", (int,), "variables",
        "tf.Variables created during the timed rounds (seen by a variable creator scope).",
        group=PROBE, default=0,
    ),
    Field(
        "live_variables_delta", (int,), "variables",
        "Variables created during the timed rounds and still alive after them (after gc.collect()).",
        group=PROBE, default=0, repeats=EXACTLY,
    ),
    Field(
        "memory_window_steps", (int,), "steps",
        "Steps of the untimed memory window run after the timed rounds, behind the `retained_*` "
        "and `*_per_step` count figures (the profile's `memory_steps`, fewer for slow steps; 0 "
        "for a refused variant).",
        group=PROBE, default=0,
    ),
    Field(
        "retained_bytes_per_step", _NUM, "bytes/step",
        "Primary memory figure: bytes the case keeps per step. Slope of a least-squares line "
        "through bytes in use read after each step of the memory window, each read after a "
        "gc.collect(): the C heap (`psutil.heap_info()` heap_used + mmap_used: graphs, caches, "
        "C++ objects, Python objects over 512 B, tensors TensorFlow mallocs directly) plus "
        "pymalloc's blocks in use (`sys._debugmallocstats()`: Python objects of 512 B or less, in "
        "arenas malloc does not see) plus, where the device has allocator stats, TensorFlow's "
        "allocator `current` (GPU memory; on CPU the pool's tensors: free room is reserved in the "
        "pool first so its regions, which come from malloc, never grow in the window and are "
        "not counted twice). `retained_components` names the parts added. Null, with "
        "`retained_unavailable`, where a part cannot be read; never an RSS substitute.",
        nullable=True,
        group=PROBE, repeats=WITHIN_TOLERANCE,
    ),
    Field(
        "retained_components", (str,), "-",
        "The parts added in `retained_bytes_per_step`, e.g. `native heap + pymalloc + CPU:0 "
        "allocator current`.", nullable=True,
        group=PROBE,
    ),
    Field(
        "retained_unavailable", (str,), "-",
        "Why `retained_bytes_per_step` is null (e.g. psutil without heap_info, a refused "
        "variant); null when it has a value.", nullable=True,
        group=PROBE, default=REFUSED,
    ),
    Field(
        "retained_native_heap_bytes_per_step", _NUM, "bytes/step",
        "Part of `retained_bytes_per_step`: the C heap's slope (`psutil.heap_info()`).",
        nullable=True,
        group=PROBE,
    ),
    Field(
        "retained_python_heap_bytes_per_step", _NUM, "bytes/step",
        "Part of `retained_bytes_per_step`: pymalloc's blocks in use, slope.", nullable=True,
        group=PROBE,
    ),
    Field(
        "retained_allocator_bytes_per_step", _NUM, "bytes/step",
        "Part of `retained_bytes_per_step`: TensorFlow's allocator `current`, slope; null where "
        "the device has no allocator stats (then tensors are in the C heap).", nullable=True,
        group=PROBE,
    ),
    Field(
        "cache_entries_per_step", _NUM, "entries/step",
        "tf.function cache entries kept per step in the memory window (slope of the cache size "
        "read after each step); 1 for a function that retraces every step and keeps every trace.",
        nullable=True,
        group=PROBE, repeats=EXACTLY,
    ),
    Field(
        "variables_created_per_step", _NUM, "variables/step",
        "tf.Variables created per step in the memory window (count / `memory_window_steps`).",
        nullable=True,
        group=PROBE, repeats=EXACTLY,
    ),
    Field(
        "variables_alive_per_step", _NUM, "variables/step",
        "Variables made in the memory window that stay alive, per step (slope of their count "
        "read after each step and a gc.collect()): 0 when each step's variables die, the "
        "variables per step when every one is kept.", nullable=True,
        group=PROBE, repeats=EXACTLY,
    ),
    Field(
        "descriptors_per_step", _NUM, "descriptors/step",
        "Open file descriptors (handles on Windows) the case keeps per step: the median step-to-step "
        "change of the process's count, read after each step of the memory window and its "
        "gc.collect(); e.g. 1 for a summary writer made every step and kept open. Null where the "
        "system does not say.",
        nullable=True, group=PROBE,
    ),
    Field(
        "threads_per_step", _NUM, "threads/step",
        "Threads the case keeps per step (native ones included): the median step-to-step change of "
        "the process's thread count, read after each step of the memory window and its "
        "gc.collect(), so a pool that grows once in the window does not count.",
        nullable=True, group=PROBE,
    ),
    Field(
        "rss_growth_per_step_bytes", _NUM, "bytes/step",
        "Secondary (order-dependent): RSS grows only when the allocator has no free pages left, so "
        "this depends on what earlier cases freed; `retained_bytes_per_step` is the figure to "
        "read. Slope of a least-squares line through process RSS read after the timed rounds "
        "(after every round, or every few rounds for steps under 12 ms, so reads cost under 0.5%).",
        group=PROBE, default=0.0,
    ),
    Field(
        "rss_peak_delta_bytes", (int,), "bytes",
        "Secondary (order-dependent, as RSS growth): highest RSS read during the timed rounds "
        "minus RSS just before them.",
        group=PROBE, default=0,
    ),
    Field(
        "timing_rsd", _NUM, "ratio",
        "Relative standard deviation (stddev / mean) of the timed rounds; null where timing was "
        "disabled.", nullable=True,
        group=TIMING,
    ),
    Field(
        "timing_unstable", (bool,), "-",
        "True when `timing_rsd` exceeds 0.10 or fewer than 5 rounds were timed (pyperf's "
        "warnings); null where timing was disabled.", nullable=True,
        group=TIMING,
    ),
    Field(
        "allocator_current_delta_bytes", (int,), "bytes",
        "Change of TensorFlow's allocator `current` bytes over the timed rounds; null where unavailable.",
        nullable=True,
        group=PROBE,
    ),
    Field(
        "allocator_peak_bytes", (int,), "bytes",
        "TensorFlow allocator peak during the timed rounds (after `reset_memory_stats`); it counts "
        "every live tensor, earlier cases' too. Null where the device has no allocator stats (CPU "
        "without oneDNN or TF_CPU_ALLOCATOR_USE_BFC=1).",
        nullable=True,
        group=PROBE,
    ),
    Field(
        "allocator_peak_delta_bytes", (int,), "bytes",
        "The same peak above the allocator's `current` bytes when the rounds began: what the "
        "case itself needed at most, whatever ran before it. Null where `allocator_peak_bytes` is.",
        nullable=True,
        group=PROBE,
    ),
    Field(
        "shared_samples_s", (list,), "s",
        "Duration of the `shared` step of the same situation, timed just before each round of "
        "this variant (in the order of pytest-benchmark's `stats.data`): the mean of the 1 to 32 "
        "steps that fit 5 ms or a tenth of the variant's step, after a few untimed settling steps. "
        "The report's ratio is the median of the per-round ratios. Null for `shared` itself and unpaired profiles.",
        nullable=True,
        group=TIMING,
    ),
    Field(
        "probe_process", (str,), "-",
        "`same`: trace, variable and memory figures come from the process that timed the case; "
        "`isolated` (`--tfreuse-isolate`): from a fresh process that ran only this case.",
        group=PROBE, default="same",
    ),
    Field(
        "instructions_per_step", _NUM, "instructions/step",
        "Instructions executed per steady step, counted by valgrind's callgrind over "
        "`instruction_steps` steps after warm-up (the thread pools' idle spin left out); "
        "independent of the machine's load, so `tfreuse ab` gates on it. Counted for the baseline "
        "and the fixes (as the scenario declares them) in a process of `tfreuse instructions` or `tfreuse ab`; "
        "null elsewhere, with `instructions_unavailable`.", nullable=True,
        group=INSTRUCTIONS,
    ),
    Field(
        "instruction_steps", (int,), "steps",
        "Steps behind `instructions_per_step` (0 where not counted).",
        group=INSTRUCTIONS, default=0,
    ),
    Field(
        "instructions_unavailable", (str,), "-",
        "Why `instructions_per_step` is null (not a counting process, no valgrind on this "
        "system, ...); null when it has a value.", nullable=True,
        group=INSTRUCTIONS, default=NOT_COUNTED,
    ),
)

FIELDS_BY_NAME: dict[str, Field] = {field.name: field for field in FIELDS}

# Keys whose value only exists for some scenarios. Declared here so every figure is documented.
SCENARIO_FIELDS: tuple[Field, ...] = (
    Field("param_bytes", (int,), "bytes",
          "Bytes held by the weights of one layer/model of the variant (layer scenarios).", group=SCENARIO),
    Field("loss_initial", _NUM, "-",
          "Training scenarios: loss of a fresh copy of the variant before `learning_steps` steps.",
          nullable=True, group=SCENARIO),
    Field("loss_final", _NUM, "-",
          "Training scenarios: the same copy's loss after `learning_steps` steps.", nullable=True, group=SCENARIO),
    Field("learning_steps", (int,), "steps",
          "Training scenarios: steps behind `loss_final` (the same for every variant and profile).", group=SCENARIO),
    Field("learning_retained", _NUM, "ratio",
          "Training scenarios: loss reduction of the variant divided by that of `shared` over the "
          "same steps from the same start; 1 keeps all learning, 0 throws it away.", nullable=True, group=SCENARIO),
    Field("learning_deterministic_ops", (bool,), "-",
          "Training scenarios: TensorFlow's op determinism was on while the learning figures were "
          "made (turned on for those runs only, never for the timed rounds), so they repeat "
          "between GPU runs.", group=SCENARIO),
    Field("optimizer_iterations", (int,), "steps",
          "Training scenarios with a Keras optimizer: the step count of the optimizer the variant "
          "ends with after `learning_steps` steps; fewer than `learning_steps` when the optimizer "
          "(and its slot variables, e.g. Adam's moments) was re-created on the way.",
          nullable=True, group=SCENARIO),
    Field("frozen_weight_drift", _NUM, "-",
          "Transfer learning: largest absolute change of a frozen extractor weight since it was "
          "frozen (the pretrained values), after `learning_steps` steps; 0 when freezing held.",
          nullable=True, group=SCENARIO),
)

SCENARIO_FIELDS_BY_NAME: dict[str, Field] = {field.name: field for field in SCENARIO_FIELDS}


def names(group: str | None = None, repeats: str | None = None) -> tuple[str, ...]:
    """The names of the fields in `group` (any group when None) that repeat as `repeats` says
    (any when None), in record order."""
    return tuple(field.name for field in FIELDS + SCENARIO_FIELDS
                 if group in (None, field.group) and repeats in (None, field.repeats))


def new_record(**identity: Any) -> dict:
    """A case's record before it is measured: every field's default, and the case's identity
    (each identity field without a default: scenario, variant, mode, device, size, size_params,
    profile)."""
    wanted = {field.name for field in FIELDS if field.group == IDENTITY and field.default is None}
    if set(identity) != wanted:
        missing, unknown = sorted(wanted - set(identity)), sorted(set(identity) - wanted)
        raise TypeError(f"new_record: missing identity {missing}, unknown keys {unknown}")
    return {field.name: identity.get(field.name, field.default) for field in FIELDS}


class SchemaError(ValueError):
    """A record does not match the documented schema."""


def problems(record: Mapping[str, Any]) -> list[str]:
    """Every way `record` departs from the schema, as readable sentences (empty when it matches)."""
    found = []
    for field in FIELDS:
        if field.name not in record:
            found.append(f"missing key {field.name!r}")
    for key, value in record.items():
        field = FIELDS_BY_NAME.get(key) or SCENARIO_FIELDS_BY_NAME.get(key)
        if field is None:
            found.append(f"undocumented key {key!r} (add it to tfreuse.core.schema)")
            continue
        if value is None:
            if not field.nullable and key not in SCENARIO_FIELDS_BY_NAME:
                found.append(f"{key!r} is null but must have a value")
            continue
        if (isinstance(value, bool) and bool not in field.types) or not isinstance(value, field.types):
            expected = " or ".join(t.__name__ for t in field.types)
            found.append(f"{key!r} is {type(value).__name__}, expected {expected}")
    if record.get("schema_version") not in (None, SCHEMA_VERSION):
        found.append(f"schema_version is {record['schema_version']!r}, expected {SCHEMA_VERSION}")
    if "outcome" in record and record["outcome"] not in OUTCOMES:
        found.append(f"outcome is {record['outcome']!r}, expected one of {OUTCOMES}")
    return found


def validate(record: Mapping[str, Any]) -> None:
    """Raise SchemaError naming every problem of `record`."""
    found = problems(record)
    if found:
        raise SchemaError("extra_info does not match the tfreuse schema: " + "; ".join(found))


def markdown_table() -> str:
    """The schema as a markdown table (field, unit, meaning), for docs/methodology.md."""
    rows = ["| field | unit | meaning |", "|---|---|---|"]
    for field in FIELDS + SCENARIO_FIELDS:
        null = " Null where not applicable." if field.nullable and "null" not in field.meaning else ""
        rows.append(f"| `{field.name}` | {field.unit} | {field.meaning}{null} |")
    return "\n".join(rows)
