"""Compare two sets of results: median change with a Mann-Whitney U test, traces exactly.

As asv's `compare` does, a change counts only when the raw samples differ significantly; unlike
timings, trace counts are deterministic, so any increase is a regression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from tfreuse.report.load import Loaded, ReportInputError

DEFAULT_THRESHOLD = 0.10
DEFAULT_ALPHA = 0.05


@dataclass
class Comparison:
    """One row per benchmark present on both sides, plus what could not be paired."""

    table: pd.DataFrame
    warnings: list[str]

    @property
    def regressions(self) -> pd.DataFrame:
        """Rows whose verdict is a regression."""
        return self.table[self.table["regression"]]


def _latest(rows: pd.DataFrame) -> pd.DataFrame:
    """The most recent run of each benchmark on each machine."""
    return rows.sort_values("run").drop_duplicates(["machine", "fullname"], keep="last")


def _pairing(baseline: pd.DataFrame, candidate: pd.DataFrame) -> tuple[list[str], list[str]]:
    base_machines, cand_machines = set(baseline["machine"]), set(candidate["machine"])
    if base_machines & cand_machines:
        return ["machine", "fullname"], []
    if len(base_machines) == 1 and len(cand_machines) == 1:
        return ["fullname"], [f"comparing different machines: {base_machines.pop()} (baseline) "
                              f"with {cand_machines.pop()} (candidate)"]
    raise ReportInputError("baseline and candidate share no machine label; compare one machine "
                           "with one machine, or results from the same machines")


def _p_value(base: list, cand: list) -> float:
    if len(base) < 2 or len(cand) < 2:
        return math.nan
    return float(mannwhitneyu(base, cand, alternative="two-sided").pvalue)


def compare(baseline: Loaded, candidate: Loaded, threshold: float = DEFAULT_THRESHOLD,
            alpha: float = DEFAULT_ALPHA) -> Comparison:
    """Pair benchmarks of the two sides and judge each change."""
    base, cand = _latest(baseline.rows), _latest(candidate.rows)
    keys, warnings = _pairing(base, cand)
    merged = base.merge(cand, on=keys, suffixes=("_base", "_cand"))
    if merged.empty:
        raise ReportInputError("baseline and candidate have no benchmark in common")
    unpaired = (len(base) - len(merged), len(cand) - len(merged))
    if any(unpaired):
        warnings.append(f"{unpaired[0]} baseline and {unpaired[1]} candidate benchmark(s) have no "
                        "counterpart; left out")
    rows = []
    for r in merged.to_dict("records"):
        change = r["median_cand"] / r["median_base"] - 1 if r["median_base"] else math.nan
        p = _p_value(r["samples_base"], r["samples_cand"])
        significant = bool(np.isfinite(p) and p < alpha)
        traces_base, traces_cand = r.get("traces_per_step_base"), r.get("traces_per_step_cand")
        more_traces = bool(pd.notna(traces_base) and pd.notna(traces_cand) and traces_cand > traces_base)
        newly_refused = r.get("outcome_base") == "ok" and r.get("outcome_cand") == "error"
        slower = significant and change > threshold
        if newly_refused:
            verdict = "now refused"
        elif more_traces:
            verdict = "more traces"
        elif slower:
            verdict = "slower"
        elif significant and change < -threshold:
            verdict = "faster"
        else:
            verdict = "~" if not significant else "within threshold"
        rows.append({
            "machine": r.get("machine") or r.get("machine_cand"),
            "benchmark": r["fullname"].split("::")[-1],
            "median_base": r["median_base"], "median_cand": r["median_cand"],
            "change": change, "p_value": p, "significant": significant,
            "traces_base": traces_base, "traces_cand": traces_cand,
            "rss_base": r.get("rss_growth_per_step_bytes_base"),
            "rss_cand": r.get("rss_growth_per_step_bytes_cand"),
            "verdict": verdict, "regression": bool(slower or more_traces or newly_refused),
        })
    table = pd.DataFrame(rows).sort_values(["regression", "change"], ascending=[False, False])
    return Comparison(table.reset_index(drop=True), warnings)


def _ms(seconds) -> str:
    return "" if seconds is None or not math.isfinite(seconds) else f"{seconds * 1e3:.3f} ms"


def _maybe(value, spec) -> str:
    return "" if value is None or pd.isna(value) else f"{value:{spec}}"


def markdown(comparison: Comparison, threshold: float) -> str:
    """The comparison as a markdown table (regressions first), for CI job summaries."""
    regressions = len(comparison.regressions)
    lines = [f"## tfreuse compare: {regressions} regression(s) "
             f"(threshold {threshold:.0%}, Mann-Whitney U p < {DEFAULT_ALPHA})", ""]
    lines += [f"> {w}" for w in comparison.warnings]
    lines += ["| benchmark | machine | baseline | candidate | change | p | traces/step | RSS/step (KiB) | verdict |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in comparison.table.itertuples():
        traces = f"{_maybe(r.traces_base, '.2g')} → {_maybe(r.traces_cand, '.2g')}"
        rss = (f"{_maybe(r.rss_base / 1024 if pd.notna(r.rss_base) else None, '.1f')} → "
               f"{_maybe(r.rss_cand / 1024 if pd.notna(r.rss_cand) else None, '.1f')}")
        verdict = f"**{r.verdict}**" if r.regression else r.verdict
        lines.append(f"| {r.benchmark} | {r.machine} | {_ms(r.median_base)} | {_ms(r.median_cand)} | "
                     f"{r.change:+.1%} | {_maybe(r.p_value, '.3g')} | {traces} | {rss} | {verdict} |")
    return "\n".join(lines) + "\n"
