"""Analysis: each variant's step time relative to `shared` in the same situation, with a 95% CI.

The situation is the same machine, run, scenario, mode, device and size. Where the variant's own
case timed a `shared` step just before each of its rounds (`shared_samples_s`, a paired
profile), each round has a ratio, both steps timed at the same moment; the ratio is the median
of those, its interval a percentile bootstrap of that median (`ratio_paired`). Otherwise it is
the variant's median step time over the situation's `shared` row's, its interval a bootstrap
resampling both rows' raw timings independently. Either way it needs `stats.data`.

A paired row also gets `reference_shift`: how far its `shared` reference ran from the `shared`
row's own median. Beyond REFERENCE_SHIFT_LIMIT the machine changed speed during the case, and
pairing cancels only the part of such a change that slows both steps alike: `shifted` flags it
(docs/methodology.md, "Stability warnings").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tfreuse.core import intervals
from tfreuse.core.intervals import bootstrap_medians
from tfreuse.core.roles import BASELINE, FIX
from tfreuse.core.schema import retained_tolerance, timing_stability
from tfreuse.core.units import interval_text, kib

SITUATION = ["machine", "run", "scenario", "mode", "device", "size"]
# A fix "did not fix" when its ratio's whole 95% interval lies above this many times `shared`.
FIX_TOLERANCE = 1.5
REFERENCE_SHIFT_LIMIT = 0.25


def _paired_rows(rows: pd.DataFrame, row_index: np.ndarray) -> np.ndarray:
    """Which of these rows timed `shared` beside each of their rounds (`shared_samples_s`)."""
    if "shared_samples_s" not in rows:
        return np.zeros(len(row_index), bool)
    return np.array([isinstance(shared, list) and len(shared) == len(samples) >= 2
                     for shared, samples in zip(rows.loc[row_index, "shared_samples_s"],
                                                rows.loc[row_index, "samples"])], dtype=bool)


def add_ratios(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` plus `ratio`, `ratio_ci_low`, `ratio_ci_high`, `ratio_paired` and `reference_shift`
    (see the module)."""
    rows = rows.copy()
    for column in ("ratio", "ratio_ci_low", "ratio_ci_high", "reference_shift"):
        rows[column] = np.nan
    rows["ratio_paired"] = False
    ok = (rows["outcome"] == "ok") & rows["tfreuse"].astype(bool)
    keys = rows.loc[ok, SITUATION].fillna("").astype(str)
    is_shared = rows.loc[ok, "variant"] == "shared"
    references = keys[is_shared].reset_index(names="reference").drop_duplicates(SITUATION)
    pairs = keys.reset_index(names="row").merge(references, on=SITUATION)
    if pairs.empty:
        return rows
    row_index, reference_index = pairs["row"].to_numpy(), pairs["reference"].to_numpy()
    reference_median = rows.loc[reference_index, "median"].to_numpy(float)
    # The two sides are resampled with independent draws (seeds 0 and 1).
    variant_medians = bootstrap_medians(list(rows.loc[row_index, "samples"]), seed=0)
    unique_references = np.unique(reference_index)
    reference_medians = bootstrap_medians(list(rows.loc[unique_references, "samples"]), seed=1)
    position = {index: i for i, index in enumerate(unique_references)}
    bottom = reference_medians[[position[i] for i in reference_index]]
    ratio = rows.loc[row_index, "median"].to_numpy(float) / reference_median
    with np.errstate(invalid="ignore", divide="ignore"):
        resampled = variant_medians / bottom
    paired = _paired_rows(rows, row_index)
    if paired.any():  # one ratio per round, both steps timed at the same moment
        per_round = [np.asarray(samples, float) / np.asarray(shared, float) for samples, shared in
                     zip(rows.loc[row_index[paired], "samples"], rows.loc[row_index[paired], "shared_samples_s"])]
        ratio[paired] = [np.median(ratios) for ratios in per_round]
        resampled[paired] = bootstrap_medians(per_round, seed=0)
        rows.loc[row_index[paired], "ratio_paired"] = True
        references = [np.median(shared) for shared in rows.loc[row_index[paired], "shared_samples_s"]]
        rows.loc[row_index[paired], "reference_shift"] = np.asarray(references) / reference_median[paired] - 1
    rows.loc[row_index, "ratio"] = ratio
    with np.errstate(invalid="ignore"):
        low, high = np.percentile(resampled, [2.5, 97.5], axis=1)
    defined = ~np.isnan(resampled).any(axis=1)
    rows.loc[row_index, "ratio_ci_low"] = np.where(defined, low, np.nan)
    rows.loc[row_index, "ratio_ci_high"] = np.where(defined, high, np.nan)
    self_reference = row_index == reference_index
    rows.loc[row_index[self_reference], ["ratio_ci_low", "ratio_ci_high"]] = 1.0
    return rows


def ratio_rounds(rows: pd.DataFrame) -> pd.Series:
    """Per row, the rounds behind its ratio to `shared` in its own process: (top, bottom) lists,
    the per-round ratios with no bottom when paired, None where there is no `shared` row."""
    tfreuse = rows["tfreuse"].astype(bool) & (rows["outcome"] == "ok")
    keys = rows[SITUATION].fillna("").astype(str).agg("|".join, axis=1)
    shared = dict(zip(keys[tfreuse & (rows["variant"] == "shared")],
                      rows.loc[tfreuse & (rows["variant"] == "shared"), "samples"]))
    result = []
    for index, key in zip(rows.index, keys):
        samples = rows.at[index, "samples"]
        paired = rows.at[index, "shared_samples_s"] if "shared_samples_s" in rows else None
        if not tfreuse[index] or not samples or key not in shared:
            result.append(None)
        elif isinstance(paired, list) and len(paired) == len(samples):
            result.append((list(np.asarray(samples, float) / np.asarray(paired, float)), None))
        else:
            result.append((samples, shared[key]))
    return pd.Series(result, index=rows.index, dtype=object)


# One benchmark of one measurement: the rows its K processes wrote.
BENCHMARK = ["machine", "measurement", "fullname"]
# Columns of a merged row taken from its processes' rows by their median (figures that vary a
# little between processes); every other column is the first process's (the same in each).
_MEDIAN_OVER_PROCESSES = ("first_step_s", "timing_rsd", "reference_shift", "retained_bytes_per_step",
                          "retained_native_heap_bytes_per_step", "retained_python_heap_bytes_per_step",
                          "retained_allocator_bytes_per_step", "rss_growth_per_step_bytes",
                          "rss_peak_delta_bytes", "allocator_current_delta_bytes", "allocator_peak_bytes",
                          "allocator_peak_delta_bytes", "traces_per_step", "cache_entries_per_step",
                          "variables_created_per_step", "variables_alive_per_step", "descriptors_per_step",
                          "threads_per_step", "mean", "stddev", "iqr")


def _merged(group: pd.DataFrame) -> dict:
    """One row for a benchmark measured in the processes of `group` (one row each, process order):
    the ratio and the 95% interval over processes that holds the next measurement's ratio
    (`tfreuse.core.intervals.next_measurement`)."""
    row = group.iloc[0].to_dict()
    samples = [list(s) for s in group["samples"]]
    row.update(processes=len(group), median=intervals.point(samples), rounds=int(group["rounds"].sum()),
               min=float(group["min"].min()), max=float(group["max"].max()),
               samples=[x for s in samples for x in s])
    for column in _MEDIAN_OVER_PROCESSES:
        if column in group:
            values = pd.to_numeric(group[column], errors="coerce")
            row[column] = float(values.median()) if values.notna().any() else row[column]
    if "timing_unstable" in group and group["timing_unstable"].notna().any():
        row["timing_unstable"] = bool(group["timing_unstable"].fillna(False).astype(bool).mean() > 0.5)
    shared = group["shared_samples_s"] if "shared_samples_s" in group else None
    if shared is not None and all(isinstance(s, list) for s in shared):
        row["shared_samples_s"] = [x for s in shared for x in s]
    rounds = list(group["ratio_rounds"])
    if row["variant"] == "shared" and row["outcome"] == "ok":
        row.update(ratio=1.0, ratio_ci_low=1.0, ratio_ci_high=1.0)
    elif rounds and all(r is not None for r in rounds):
        tops = [top for top, _ in rounds]
        bottoms = None if rounds[0][1] is None else [bottom for _, bottom in rounds]
        row["ratio"] = intervals.point(tops, bottoms)
        row["ratio_ci_low"], row["ratio_ci_high"] = intervals.next_measurement(tops, bottoms)
    else:
        row.update(ratio=np.nan, ratio_ci_low=np.nan, ratio_ci_high=np.nan)
    return row


def merge_processes(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per benchmark of each measurement, its ratio's interval over its processes.

    A measurement run as K fresh processes (`tfreuse bench`, `tfreuse measure --processes`) has K
    rows per benchmark: they become one, whose ratio is the geometric mean of the processes'
    ratios and whose 95% interval, from the hierarchical bootstrap over processes, then rounds,
    holds the next such measurement's ratio (`processes` = K). Figures a timing-only process does
    not measure (memory, learning) are the first process's. A benchmark of one process keeps its
    row, and its interval covers the spread within that process only (`processes` = 1): see
    `interval_label`. Needs `add_ratios` first (each process's own ratio is its row's until then).
    """
    rows = rows.copy()
    if "measurement" not in rows:
        rows["measurement"] = rows["run"]
    rows["processes"] = 1
    keys = rows[BENCHMARK].fillna("").astype(str)
    counts = keys.groupby(BENCHMARK)["fullname"].transform("size")
    several = counts > 1
    if several.any():  # each process's rounds against its own `shared` rounds, before runs merge
        rows["ratio_rounds"] = ratio_rounds(rows)
    # A measurement's rows carry its first process's run, so they are one run to `latest_runs`.
    rows["run"] = rows.groupby(["machine", "measurement"], dropna=False)["run"].transform("min")
    if not several.any():
        return rows
    merged = {}
    for _, group in rows[several].groupby([keys[c] for c in BENCHMARK], sort=False):
        ordered = group.sort_values("process") if "process" in group else group
        merged[group.index.min()] = _merged(ordered)
    kept = rows[~several]
    result = pd.concat([kept, pd.DataFrame.from_dict(merged, orient="index")]).sort_index()
    return result.drop(columns=["ratio_rounds"]).reset_index(drop=True)


def interval_label(processes) -> str:
    """What a ratio's interval covers, by how many processes measured it (a number, or a column
    of them: one label when they agree)."""
    counts = sorted({int(k) for k in np.atleast_1d(processes) if pd.notna(k)}) or [1]
    if len(counts) > 1:
        return "interval (95% over processes; within one process where processes = 1)"
    if counts[0] > 1:
        return f"95% interval over {counts[0]} processes"
    return "within-process interval"


def _column(rows: pd.DataFrame, name: str) -> pd.Series:
    return rows[name] if name in rows else pd.Series(np.nan, rows.index, dtype=object)


def add_stability(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` plus `rsd` (stddev / mean), `unstable` (a pyperf-style warning flag) and `shifted`.

    `rsd` and `unstable` are the harness's recorded `timing_rsd` and `timing_unstable`; a row
    without them (another suite's, a refused variant's, a record older than those fields) gets
    the same rule (`schema.timing_stability`) applied to pytest-benchmark's statistics. Shifted:
    a paired row whose `shared` reference ran more than REFERENCE_SHIFT_LIMIT from `shared`'s own
    median (needs `add_ratios` first; False otherwise).
    """
    rows = rows.copy()
    mean = rows["mean"].astype(float)
    rsd, unstable = timing_stability(rows["stddev"].astype(float), mean.where(mean > 0),
                                     rows["rounds"].fillna(0))
    recorded_rsd = _column(rows, "timing_rsd").astype(float)
    recorded_unstable = _column(rows, "timing_unstable")
    rows["rsd"] = recorded_rsd.where(recorded_rsd.notna(), rsd)
    rows["unstable"] = recorded_unstable.where(recorded_unstable.notna(), unstable).astype(bool)
    shift = rows["reference_shift"].astype(float) if "reference_shift" in rows else pd.Series(np.nan, rows.index)
    rows["shifted"] = shift.abs() > REFERENCE_SHIFT_LIMIT
    return rows


def analyze(rows: pd.DataFrame) -> pd.DataFrame:
    """Ratios, intervals (over processes where a measurement had several) and stability flags."""
    return add_stability(merge_processes(add_ratios(rows)))


# A mode's name in a table or figure (the records say `jit` for tf.function(jit_compile=True)).
MODE_NAMES = {"eager": "eager", "function": "tf.function", "jit": "XLA"}
# A fix "did not fix" its time when its ratio's whole 95% interval lies above this many times
# `shared`, its learning when it keeps under this share of `shared`'s.
LEARNING_KEPT = 0.9


def is_fix(rows: pd.DataFrame) -> pd.Series:
    """Which rows are fixes users are told to apply, as their scenarios declare (`variant_role`)."""
    return rows["variant_role"] == FIX


def _finite(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and not np.isfinite(value))


def not_restored(row: pd.Series, baseline: pd.Series | None = None) -> list[str]:
    """The figures a fix declares it brings back (`fix_restores`) that it did not, in that order.

    time: its ratio's whole interval above FIX_TOLERANCE x `shared`; traces: it retraces every
    step; memory: it keeps more bytes per step than `baseline` (the situation's `shared` row),
    beyond the two readings' tolerance; learning: it keeps under LEARNING_KEPT of `shared`'s;
    drift: its frozen weights moved more than `baseline`'s; descriptors, threads: it keeps half
    a file descriptor or thread per step more than `baseline`.
    """
    failed = []
    for figure in filter(None, str(row.get("fix_restores") or "").split(", ")):
        if figure == "time":
            bad = row.get("ratio_ci_low", np.nan) > FIX_TOLERANCE
        elif figure == "traces":
            bad = _finite(row.get("traces_per_step")) and row["traces_per_step"] >= 1
        elif figure == "learning":
            bad = _finite(row.get("learning_retained")) and row["learning_retained"] < LEARNING_KEPT
        elif figure == "memory":
            kept, reference = row.get("retained_bytes_per_step"), _baseline_value(baseline, "retained_bytes_per_step")
            bad = (_finite(kept) and _finite(reference)
                   and kept - reference > retained_tolerance(kept, reference))
        elif figure == "drift":
            drift, reference = row.get("frozen_weight_drift"), _baseline_value(baseline, "frozen_weight_drift")
            bad = _finite(drift) and drift > (reference if _finite(reference) else 0.0)
        else:  # descriptors or threads: half a file or thread more per step than the baseline keeps
            kept, reference = row.get(f"{figure}_per_step"), _baseline_value(baseline, f"{figure}_per_step")
            bad = _finite(kept) and kept - (reference if _finite(reference) else 0.0) >= 0.5
        if bad:
            failed.append(figure)
    return failed


def _baseline_value(baseline: pd.Series | None, column: str) -> Any:
    return None if baseline is None else baseline.get(column)


def _sentence_start(phrase: str) -> str:
    """`phrase` with a capital first letter, unless its first word is code (`tf.random.set_seed`,
    `keras.backend.clear_session()`), which keeps its case."""
    first = phrase.split(" ", 1)[0]
    return phrase if any(mark in first for mark in "._()") else phrase[:1].upper() + phrase[1:]


def headline(row: pd.Series, name_machine: bool = True) -> str:
    """One sentence with figures for a variant row that has a ratio (the machine named at its end
    unless `name_machine` is False, for a page that names its one machine once)."""
    # Only our own wording is a format string: a variant's name may hold braces.
    phrase = str(row["variant_phrase"])
    costs = "still costs" if row["variant_role"] == FIX else "costs"
    text = (f"{_sentence_start(phrase)} {row['mode_phrase']} {costs} "
            f"{row['ratio']:.1f}x the shared step time")
    interval = interval_text(row.get("ratio_ci_low"), row.get("ratio_ci_high"), ".1f", dash="-")
    if interval:
        text += f" ({interval_label(row.get('processes', 1))}: {interval})"
    # Bytes in use kept per step, not RSS growth: RSS grows only when the allocator runs out of
    # free pages, so it read 0.0 KiB/step for a retracing step that keeps ~250 KiB every step.
    kept = row.get("retained_bytes_per_step")
    if kept is not None and np.isfinite(kept) and kept > 1024:
        text += f" and keeps {kib(kept)} of memory per step"
    for column, what in (("descriptors_per_step", "open file"), ("threads_per_step", "thread")):
        kept = row.get(column)
        if _finite(kept) and kept >= 0.5:
            text += f", keeping {kept:.2g} {what}{'s' if kept >= 1.5 else ''} per step"
    traces = row.get("traces_per_step")
    if traces is not None and np.isfinite(traces) and traces > 0:
        text += ", retracing every step" if traces == 1 else f", retracing {traces:.2g} times per step"
    retained = row.get("learning_retained")
    if retained is not None and np.isfinite(retained) and retained < LEARNING_KEPT:
        text += f", keeping {retained:.0%} of the learning"
    drift = row.get("frozen_weight_drift")
    if _finite(drift) and drift > 0:
        text += f", its frozen weights moving by up to {drift:.2g}"
    where = f", on {row['machine']}" if name_machine else ""
    return text + f" ({row['scenario']}, {row['size']}, {row['device']}{where})."


def _situation(row: pd.Series) -> tuple[str, ...]:
    return tuple("" if pd.isna(row.get(c)) else str(row.get(c)) for c in SITUATION)


def _headline_rows(analyzed: pd.DataFrame, per_scenario: int) -> list[tuple[bool, pd.Series]]:
    """(is a fix, row) of each headline, in the order `headlines` gives them."""
    baselines = {_situation(row): row for _, row in analyzed[analyzed["variant_role"] == BASELINE].iterrows()}
    measured = analyzed[analyzed["ratio"].notna() & (analyzed["variant_role"] != BASELINE)]
    fixes = is_fix(measured)
    chosen = []
    for (machine, scenario), group in measured[~fixes].groupby(["machine", "scenario"], sort=True):
        for _, row in group.sort_values("ratio", ascending=False).head(per_scenario).iterrows():
            chosen.append((False, row))
        here = (measured["machine"] == machine) & (measured["scenario"] == scenario)
        scenario_fixes = measured[fixes & here]
        for _, row in scenario_fixes.sort_values("ratio", ascending=False).iterrows():
            if not_restored(row, baselines.get(_situation(row))):
                chosen.append((True, row))
    return chosen


def headlines(analyzed: pd.DataFrame, per_scenario: int = 1, name_machine: bool = True) -> list[str]:
    """The costliest anti-pattern of each scenario on each machine, in plain words, each
    followed by the scenario's fixes that did not bring back what they declare (`not_restored`), costliest first."""
    return [headline(row, name_machine) for _, row in _headline_rows(analyzed, per_scenario)]


def headlines_apart(analyzed: pd.DataFrame, per_scenario: int = 1,
                    name_machine: bool = True) -> tuple[list[str], list[str]]:
    """`headlines` split in two: the costliest anti-patterns, and the fixes that did not fix."""
    chosen = _headline_rows(analyzed, per_scenario)
    return ([headline(row, name_machine) for fix, row in chosen if not fix],
            [headline(row, name_machine) for fix, row in chosen if fix])


def cost_order(rows: pd.DataFrame) -> pd.DataFrame:
    """A scenario's rows in table order: situation by situation (machine, device, then mode and
    size in the order they were measured), `shared` first, then its variants costliest first and
    refusals last."""
    def rank(column: str) -> pd.Series:
        seen = {value: i for i, value in enumerate(pd.unique(rows[column].fillna("")))}
        return rows[column].fillna("").map(seen)

    keys = pd.DataFrame({
        "machine": rows["machine"].fillna(""), "device": rows["device"].fillna(""),
        "mode": rank("mode"), "size": rank("size"),
        "not_shared": rows["variant"] != "shared",
        "refused": rows["outcome"] == "error",
        "cost": -rows["ratio"].astype(float).fillna(-np.inf) if "ratio" in rows else 0.0,
        "variant": rows["variant"],
    }, index=rows.index)
    return rows.loc[keys.sort_values(list(keys.columns), kind="stable").index]


def constant_columns(table: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """`table` without the columns that say the same on every row, and what each of those says
    ('' for a column empty throughout). A one-row table keeps every column that has a value."""
    constant = {}
    for column in table.columns:
        values = table[column].fillna("").astype(str)
        if (values == "").all() or (len(table) > 1 and values.nunique() == 1):
            constant[column] = values.iloc[0] if len(values) else ""
    return table.drop(columns=list(constant)), constant


def latest_runs(analyzed: pd.DataFrame) -> pd.DataFrame:
    """The rows of each machine's most recent run (runs sort by their start time); `compare.measurement`
    adds the other processes of that run's commit and profile."""
    latest = analyzed.groupby("machine")["run"].transform("max")
    return analyzed[analyzed["run"] == latest]


def errors(analyzed: pd.DataFrame) -> pd.DataFrame:
    """Rows TensorFlow refused, one per scenario/variant/mode, with the error."""
    refused = analyzed[analyzed["outcome"] == "error"]
    return refused.drop_duplicates(["scenario", "variant", "mode", "error_type"])[
        ["scenario", "variant", "mode", "error_type", "error_message"]]
