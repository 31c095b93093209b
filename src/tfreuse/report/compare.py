"""Compare two sets of results: exact figures gated exactly, timing judged over processes.

Exact figures are deterministic, so they need no statistics: more traces per step, more
variables created per step, a variant newly refused, or retained memory per step grown beyond
`retained_tolerance` is a regression in any comparison.

Timing is judged only in a same-job A/B (`tfreuse ab`: base and candidate run on one machine in
one job, in fresh processes alternating A B B A ...). Each process gives one estimate of a
benchmark (its median round); a side's figure is the geometric mean over its K processes, and its
interval, and the change's, come from a hierarchical bootstrap (processes, then rounds:
`tfreuse.core.intervals`). A change is a regression only when its whole 95% interval is above
the threshold. Across jobs and machines, absolute times measure the runner as much as the code
(hosted runners vary 10-30% from run to run), so they are shown and never gated.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tfreuse.core import intervals
from tfreuse.core.schema import retained_tolerance
from tfreuse.core.units import interval_text, kib, number
from tfreuse.report.analyze import latest_runs, ratio_rounds
from tfreuse.report.load import Loaded, ReportInputError

# Wall-time threshold of a same-job A/B: a slowdown is called only when the whole 95% interval of the
# change lies above it; set above the largest lower bound of a change in A/A runs of pinned
# processes on a quiet machine (`scripts/gate_calibration.py`; docs/methodology.md, "The A/B gate
# and its calibration").
WALL_THRESHOLD = 0.10
SAME_JOB = "same-job A/B"
ACROSS_RUNS = "across runs"



@dataclass
class Comparison:
    """One row per benchmark present on both sides, what could not be paired, and how it was judged."""

    table: pd.DataFrame
    warnings: list[str]
    kind: str = ACROSS_RUNS
    threshold: float = WALL_THRESHOLD
    processes: tuple[int, int] = (1, 1)

    @property
    def regressions(self) -> pd.DataFrame:
        """Rows whose verdict is a regression."""
        return self.table[self.table["regression"]]


def measurement(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of one measurement per machine: the latest run and every run of the same commit and
    profile (the K processes of a repeated run); older runs of other code are left out."""
    code = ["machine", "commit", "profile"]
    rows = rows.assign(commit=rows["commit"] if "commit" in rows else None,
                       profile=rows["profile"] if "profile" in rows else None)
    keys = rows[code].fillna("").astype(str)
    latest = keys.loc[latest_runs(rows).index].drop_duplicates()
    return rows[keys.merge(latest, on=code, how="left", indicator=True)["_merge"].eq("both").to_numpy()]


def _pairing(baseline: pd.DataFrame, candidate: pd.DataFrame) -> tuple[list[str], list[str]]:
    base_machines, cand_machines = set(baseline["machine"]), set(candidate["machine"])
    if base_machines & cand_machines:
        return ["machine", "fullname"], []
    if len(base_machines) == 1 and len(cand_machines) == 1:
        return ["fullname"], [f"comparing different machines: {base_machines.pop()} (baseline) "
                              f"with {cand_machines.pop()} (candidate)"]
    raise ReportInputError("baseline and candidate share no machine label; compare one machine "
                           "with one machine, or results from the same machines")


def _per_step(rows: pd.DataFrame, column: str) -> pd.Series:
    steps = rows["measured_steps"].astype(float).where(lambda s: s > 0) if "measured_steps" in rows else np.nan
    return rows[column].astype(float) / steps if column in rows else pd.Series(np.nan, rows.index)


def _side(rows: pd.DataFrame, keys: list[str], seed: int) -> pd.DataFrame:
    """One row per benchmark of one side: its processes' figures, timing replicates and intervals."""
    rows = rows.assign(ratio_rounds=ratio_rounds(rows),
                       variables_per_step=_per_step(rows, "variables_created"),
                       retained=rows["retained_bytes_per_step"].astype(float)
                       if "retained_bytes_per_step" in rows else np.nan)
    records = []
    for key, group in rows.sort_values("run").groupby(keys, sort=False):
        group = group[group["samples"].map(len) > 0]
        if group.empty:
            continue
        samples = list(group["samples"])
        replicates = intervals.hierarchical(samples, seed=seed)
        ratio, ratio_low, ratio_high = np.nan, np.nan, np.nan
        process_rounds = [r for r in group["ratio_rounds"] if r is not None]
        if len(process_rounds) == len(group):
            tops = [top for top, _ in process_rounds]
            bottoms = None if process_rounds[0][1] is None else [bottom for _, bottom in process_rounds]
            ratio = intervals.point(tops, bottoms)
            ratio_low, ratio_high = intervals.interval(intervals.hierarchical(tops, bottoms, seed=seed + 5))
        first = group.iloc[-1]
        records.append({
            **dict(zip(keys, key if isinstance(key, tuple) else (key,))),
            "processes": len(group),
            "median": intervals.point(samples),
            "median_low": intervals.interval(replicates)[0],
            "median_high": intervals.interval(replicates)[1],
            "replicates": replicates,
            "ratio": ratio, "ratio_low": ratio_low, "ratio_high": ratio_high,
            "outcome": "error" if (group["outcome"] == "error").any() else first["outcome"],
            # Exact figures are the same in every process; the median guards against a stray one.
            "traces": group["traces_per_step"].astype(float).median() if "traces_per_step" in group else np.nan,
            "variables": group["variables_per_step"].median(),
            "retained": group["retained"].median(),
        })
    return pd.DataFrame(records)


def _changed(base: float, cand: float) -> bool:
    return bool(pd.notna(base) and pd.notna(cand) and cand > base + 1e-9)


def _retained_grew(base: float, cand: float) -> bool:
    if pd.isna(base) or pd.isna(cand):
        return False  # a file without the column: not compared
    return cand - base > retained_tolerance(base, cand)


def _exact_verdict(r: dict) -> str | None:
    """The exact regression of a row, if any (most serious first)."""
    if r.get("outcome_base") == "ok" and r.get("outcome_cand") == "error":
        return "now refused"
    if _changed(r["traces_base"], r["traces_cand"]):
        return "more traces"
    if _changed(r["variables_base"], r["variables_cand"]):
        return "more variables"
    if _retained_grew(r["retained_base"], r["retained_cand"]):
        return "retains more memory"
    return None


def compare(baseline: Loaded, candidate: Loaded, threshold: float = WALL_THRESHOLD,
            kind: str = ACROSS_RUNS) -> Comparison:
    """Pair the benchmarks of the two sides; gate exact figures, and timing in a same-job A/B."""
    base_rows, cand_rows = measurement(baseline.rows), measurement(candidate.rows)
    keys, warnings = _pairing(base_rows, cand_rows)
    base, cand = _side(base_rows, keys, seed=0), _side(cand_rows, keys, seed=100)
    merged = base.merge(cand, on=keys, suffixes=("_base", "_cand")) if len(base) and len(cand) else pd.DataFrame()
    if merged.empty:
        raise ReportInputError("baseline and candidate have no benchmark in common")
    unpaired = (len(base) - len(merged), len(cand) - len(merged))
    if any(unpaired):
        warnings.append(f"{unpaired[0]} baseline and {unpaired[1]} candidate benchmark(s) have no "
                        "counterpart; left out")
    warnings += [f"timings unreliable: {sentence}" for sentence in baseline.busy + candidate.busy]
    processes = (int(base["processes"].max()), int(cand["processes"].max()))
    if kind == SAME_JOB and min(processes) < 3:
        warnings.append(f"{min(processes)} process(es) on a side: one covers the rounds of one moment only, "
                        "not the spread between processes; two give a t interval with one degree of "
                        "freedom, about 9 times the bootstrap's spread; run 3 or more (--processes)")
    rows = []
    for r in merged.to_dict("records"):
        change = r["median_cand"] / r["median_base"] - 1 if r["median_base"] else math.nan
        change_low, change_high = intervals.change(r["replicates_base"], r["replicates_cand"])
        exact = _exact_verdict(r)
        slower = kind == SAME_JOB and change_low > threshold
        if exact:
            verdict = exact
        elif kind != SAME_JOB:
            verdict = "not gated"
        elif slower:
            verdict = "slower"
        elif change_high < -threshold:
            verdict = "faster"
        else:
            verdict = "~"
        rows.append({
            "machine": r.get("machine") or r.get("machine_cand"),
            "benchmark": r["fullname"].split("::")[-1],
            **{f"{figure}_{side}": r[f"{figure}_{side}"] for side in ("base", "cand")
               for figure in ("processes", "median", "median_low", "median_high", "ratio", "ratio_low",
                              "ratio_high", "traces", "variables", "retained")},
            "change": change, "change_low": change_low, "change_high": change_high,
            "verdict": verdict, "regression": bool(slower or exact),
        })
    table = pd.DataFrame(rows).sort_values(["regression", "change"], ascending=[False, False])
    return Comparison(table.reset_index(drop=True), warnings, kind, threshold, processes)


def _ms(seconds) -> str:
    return "" if seconds is None or not math.isfinite(seconds) else f"{seconds * 1e3:.3f} ms"


def _span(low, high, spec: str, scale: float = 1.0) -> str:
    interval = interval_text(low, high, lambda value: f"{value * scale:{spec}}", ", ", "[]")
    return f" {interval}" if interval else ""


def _arrow(base, cand, spec: str | Callable[[float], str]) -> str:
    """`base → cand`, each shown by a format spec or a formatter (e.g. `units.kib`)."""
    if (base is None or pd.isna(base)) and (cand is None or pd.isna(cand)):
        return ""
    formatter = spec if callable(spec) else lambda value: number(value, spec)
    show = lambda value: formatter(None if value is None or pd.isna(value) else value)  # noqa: E731
    return f"{show(base)} → {show(cand)}"


def header(comparison: Comparison) -> list[str]:
    """What kind of comparison this is and how it was judged, as markdown lines."""
    regressions = len(comparison.regressions)
    k_base, k_cand = comparison.processes
    lines = [f"## tfreuse compare ({comparison.kind}, {k_base} and {k_cand} process(es)): "
             f"{regressions} regression(s)", ""]
    if comparison.kind == SAME_JOB:
        lines.append(f"> Timing gated: slower only when the whole 95% interval of the change (over "
                     f"processes, then rounds) is above +{comparison.threshold:.0%}. Exact figures "
                     "(traces and variables per step, refusals, retained memory) gated exactly.")
    else:
        lines.append("> Independent runs (other jobs, moments or machines): times are shown, not gated, "
                     "since they measure the runner as much as the code. Exact figures (traces and "
                     "variables per step, refusals, retained memory) gated exactly.")
    return lines + [f"> {w}" for w in comparison.warnings] + [""]


def markdown(comparison: Comparison) -> str:
    """The comparison as a markdown table (regressions first), for CI job summaries."""
    intervals_shown = max(comparison.processes) > 1 or comparison.kind == SAME_JOB
    lines = header(comparison)
    lines += ["| benchmark | machine | baseline | candidate | change | ratio to shared | traces/step | "
              "variables/step | retained/step | verdict |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in comparison.table.to_dict("records"):
        base, cand = _ms(r["median_base"]), _ms(r["median_cand"])
        change = number(r["change"], "+.1%")
        ratio = _arrow(r["ratio_base"], r["ratio_cand"], ".2f")
        if intervals_shown:
            base += _span(r["median_low_base"], r["median_high_base"], ".3f", 1e3)
            cand += _span(r["median_low_cand"], r["median_high_cand"], ".3f", 1e3)
            change += _span(r["change_low"], r["change_high"], "+.1%")
            if ratio:
                ratio += _span(r["ratio_low_cand"], r["ratio_high_cand"], ".2f")
        verdict = f"**{r['verdict']}**" if r["regression"] else r["verdict"]
        lines.append(f"| {r['benchmark']} | {r['machine']} | {base} | {cand} | {change} | {ratio} | "
                     f"{_arrow(r['traces_base'], r['traces_cand'], '.2g')} | "
                     f"{_arrow(r['variables_base'], r['variables_cand'], '.2g')} | "
                     f"{_arrow(r['retained_base'], r['retained_cand'], kib)} | {verdict} |")
    return "\n".join(lines) + "\n"


# Instructions per step may grow by this share before a reuse case is called a regression: about
# twice the largest change A/A runs showed (docs/methodology.md, "Instruction counts").
INSTRUCTION_THRESHOLD = 0.01


@dataclass
class InstructionComparison:
    """Instructions per step of each counted case on both sides of a same-job A/B."""

    table: pd.DataFrame
    threshold: float = INSTRUCTION_THRESHOLD
    warnings: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> pd.DataFrame:
        """Cases whose instructions per step grew by more than the threshold."""
        return self.table[self.table["regression"]] if len(self.table) else self.table


def compare_instructions(base: list[dict], head: list[dict],
                         threshold: float = INSTRUCTION_THRESHOLD) -> InstructionComparison:
    """Pair the counted cases of two counting processes (`tfreuse.commands.counting.counts`) by name; a
    case counted on both sides whose count grew by more than `threshold` is a regression."""
    heads = {row["fullname"]: row for row in head}
    rows, warnings = [], []
    for row in base:
        other = heads.pop(row["fullname"], None)
        if other is None:
            continue
        before, after = row["instructions_per_step"], other["instructions_per_step"]
        change = after / before - 1 if before and after is not None else math.nan
        verdict = ("not counted" if math.isnan(change) else "more instructions" if change > threshold
                   else "fewer instructions" if change < -threshold else "~")
        rows.append({**{key: row[key] for key in ("scenario", "variant", "mode", "size")},
                     "benchmark": row["fullname"].split("::")[-1], "base": before, "head": after,
                     "change": change, "verdict": verdict, "regression": verdict == "more instructions"})
    unpaired = len(base) - len(rows), len(heads)
    if any(unpaired):
        warnings.append(f"{unpaired[0]} base and {unpaired[1]} head counted case(s) have no counterpart; left out")
    table = pd.DataFrame(rows)
    if len(table):
        table = table.sort_values(["regression", "change"], ascending=[False, False], na_position="last")
    return InstructionComparison(table.reset_index(drop=True), threshold, warnings)


def instruction_markdown(comparison: InstructionComparison) -> str:
    """The instruction gate as markdown: its verdict, then every counted case (regressions first)."""
    lines = [f"## Instructions per step (callgrind): {len(comparison.regressions)} regression(s)", "",
             f"> A reuse case (`shared` or a fix) is a regression when its instructions per step grow "
             f"by more than {comparison.threshold:.0%}. Counts do not depend on the machine's load; they "
             "do not see waiting, memory stalls or thread hand-offs, which the wall-time gate below does.",
             *[f"> {warning}" for warning in comparison.warnings], ""]
    counted = comparison.table[comparison.table["verdict"] != "not counted"] if len(comparison.table) else []
    skipped = len(comparison.table) - len(counted)
    lines += ["| benchmark | base | head | change | verdict |", "|---|---|---|---|---|"]
    for r in (counted.to_dict("records") if len(counted) else []):
        verdict = f"**{r['verdict']}**" if r["regression"] else r["verdict"]
        lines.append(f"| {r['benchmark']} | {r['base']:,.0f} | {r['head']:,.0f} | {r['change']:+.2%} | {verdict} |")
    if skipped:
        lines.append("")
        lines.append(f"{skipped} case(s) not counted (a fix that re-creates every step is gated by its exact "
                     "figures instead).")
    return "\n".join(lines) + "\n"
