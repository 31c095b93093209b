"""`tfreuse selfcheck`: the suite's own trustworthiness figures, measured against their targets.

Each run is a fresh `python -m pytest` process over the benchmarks, whose JSON is read back:
1. the quick profile in default order: its wall time, TensorFlow's import included;
2. the quick profile in reversed order: every case's trace, variable and retained-memory figures
   compared with run 1 (order independence); the cases whose memory figures differ are run
   again with `--tfreuse-isolate`, in both orders, to show whether a fresh process settles them;
3. A/A runs: `tfreuse ab --base HEAD` (the same code on both sides, K fresh processes each,
   A B B A ...) repeated: any benchmark flagged is a false alarm; and the interval coverage, the
   share of benchmarks whose second side's estimate lies inside the first side's 95% interval;
4. the harness overhead each quick run measured and recorded in its machine_info;
5. two `make bench` measurements (`tfreuse bench`, K processes each) back to back: how often each
   one's 95% ratio interval holds the other's ratio, how many intervals do not overlap, how wide
   they are, and each measurement's wall time (`tfreuse.report.agreement`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tfreuse.core import schema
from tfreuse.core.devices import child_environment
from tfreuse.core.schema import RETAINED_TOLERANCE_BYTES, RETAINED_TOLERANCE_RELATIVE, retained_tolerance
from tfreuse.core.units import kib
from tfreuse.engine.overhead import LIMIT

# One process of the quick profile over the whole matrix, new scenario modules included.
QUICK_SECONDS = 120.0
# Honest 95% intervals leave the other side's estimate outside now and then: the estimate has a
# spread of its own, so a perfectly calibrated interval holds it about 83% of the time when both
# sides have the same spread; intervals over rounds alone hold it far less often.
COVERAGE = 0.90
# Order independence, by how the schema says each figure repeats: counts must match exactly (live
# variables: the same count, or the same count per step, as a leak grows with the number of
# rounds), and so must the variables created per timed step (`per_step_counts`: the rounds'
# count varies by run); bytes retained per step within 10%, or within 16 KB/step for figures
# below 160 KB/step (bytes in use, not RSS: RSS growth depends on what earlier cases freed, so it
# is not checked here).
EXACT_FIGURES = ("variables_per_step",) + schema.names(repeats=schema.EXACTLY)
MEMORY_FIGURES = schema.names(repeats=schema.WITHIN_TOLERANCE)
CASE = ["scenario", "variant", "mode", "device", "size"]
# Two `make bench` measurements of one commit, back to back: each one's 95% interval (over its
# processes) holds the other's ratio in at least this share of rows, in both directions; at most
# this share of rows have intervals that do not overlap; the median interval is at most this wide
# on each side; and each measurement fits `make bench`'s budget of ten minutes.
AGREEMENT_COVERAGE = 0.90
AGREEMENT_DISJOINT = 0.02
AGREEMENT_HALF_WIDTH = 0.15
BENCH_SECONDS = 600.0


@dataclass
class Check:
    """One figure of the self-check against its target."""

    name: str
    target: str
    measured: str
    passed: bool


def per_step_counts(rows: pd.DataFrame) -> pd.DataFrame:
    """tfreuse rows with their variable counts per measured step (the step count varies by run)."""
    rows = rows[rows["tfreuse"].astype(bool) & (rows["outcome"] == "ok")].copy()
    steps = rows["measured_steps"].astype(float).where(lambda s: s > 0)
    rows["variables_per_step"] = rows["variables_created"].astype(float) / steps
    rows["live_variables_per_step"] = rows["live_variables_delta"].astype(float) / steps
    return rows


def order_deltas(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """One row per case and figure: its value in each run and whether the two agree."""
    joined = per_step_counts(first).merge(per_step_counts(second), on=CASE, suffixes=("_a", "_b"))
    records = []
    for figure in EXACT_FIGURES + MEMORY_FIGURES:
        a, b = joined[f"{figure}_a"].astype(float), joined[f"{figure}_b"].astype(float)
        both_missing = a.isna() & b.isna()
        if figure == "live_variables_delta":
            per_step = (joined["live_variables_per_step_a"].astype(float)
                        - joined["live_variables_per_step_b"].astype(float)).abs() < 1e-9
            agree = np.isclose(a, b, rtol=0, atol=1e-9) | per_step | both_missing
        elif figure in EXACT_FIGURES:
            agree = np.isclose(a, b, rtol=0, atol=1e-9) | both_missing
        else:
            tolerance = np.array([retained_tolerance(x, y) for x, y in zip(a, b)], dtype=float)
            agree = ((a - b).abs() <= tolerance) | both_missing
        records.append(joined[CASE + ["fullname_a"]].rename(columns={"fullname_a": "test"})
                       .assign(figure=figure, first=a, second=b, delta=b - a, agree=agree))
    return pd.concat(records, ignore_index=True)


def aa_comparisons(aa_runs: list[tuple[Path, Path]], threshold: float) -> list:
    """The same-job comparison of each A/A run (base folder, head folder)."""
    from tfreuse.report.compare import SAME_JOB, compare
    from tfreuse.report.load import load

    return [compare(load([base]), load([head]), threshold=threshold, kind=SAME_JOB) for base, head in aa_runs]


def aa_checks(aa_runs: list[tuple[Path, Path]], threshold: float) -> tuple[list[Check], dict[str, pd.DataFrame]]:
    """False alarms and interval coverage of A/A runs, and the table of every benchmark's change."""
    comparisons = aa_comparisons(aa_runs, threshold)
    tables = []
    for index, comparison in enumerate(comparisons, start=1):
        table = comparison.table.assign(aa_run=index)
        table["covered"] = table["median_cand"].between(table["median_low_base"], table["median_high_base"])
        table["zero_inside"] = (table["change_low"] <= 0) & (table["change_high"] >= 0)
        tables.append(table)
    joined = pd.concat(tables, ignore_index=True)
    alarms = [len(comparison.regressions) for comparison in comparisons]
    faster = int((joined["verdict"] == "faster").sum())  # not a regression, but as false a signal
    processes = comparisons[0].processes[0]
    checks = [
        Check(f"A/A false alarms (ab --base HEAD, {len(comparisons)} runs, K={processes}, threshold "
              f"{_percent(threshold)})", "none", f"{sum(1 for a in alarms if a)} of {len(alarms)} runs "
              f"flagged; benchmarks flagged per run: {alarms}; 'faster' {faster} times", not any(alarms)),
        Check("A/A interval coverage: second side's estimate inside the first side's 95% interval",
              f">= {_percent(COVERAGE)}", f"{int(joined['covered'].sum())}/{len(joined)} "
              f"({_percent(joined['covered'].mean())}); change interval holds 0 in "
              f"{_percent(joined['zero_inside'].mean())}; largest lower bound of a change "
              f"{_percent(joined['change_low'].max())}, median half-width "
              f"{_percent(((joined['change_high'] - joined['change_low']) / 2).median())}",
              bool(joined["covered"].mean() >= COVERAGE)),
    ]
    columns = ["aa_run", "benchmark", "median_base", "median_low_base", "median_high_base", "median_cand",
               "change", "change_low", "change_high", "covered", "verdict"]
    return checks, {"aa": joined[columns]}


def agreement_checks(first: Path, second: Path, seconds: list[float]) -> tuple[list[Check], dict[str, pd.DataFrame]]:
    """Two K-process measurements of the same code (`tfreuse bench` folders): does each one's 95%
    interval hold the other's ratio, and did each fit `make bench`'s time budget?"""
    from tfreuse.report.agreement import agreement

    result = agreement(_analyzed(first), _analyzed(second))
    covered = min(result.covered("first"), result.covered("second"))
    disjoint = result.disjoint / max(result.rows, 1)
    width = max(result.half_width("first"), result.half_width("second"))
    checks = [
        Check(f"two measurements' agreement: each one's ratio inside the other's interval "
              f"({result.intervals[0]})", f">= {_percent(AGREEMENT_COVERAGE)} each way",
              f"{_percent(result.covered('first'))} and {_percent(result.covered('second'))} of "
              f"{result.rows} rows; change of the ratio, median {_percent(result.change(0.5))}, "
              f"p90 {_percent(result.change(0.9))}", covered >= AGREEMENT_COVERAGE),
        Check("two measurements' agreement: disjoint intervals", f"<= {_percent(AGREEMENT_DISJOINT)}",
              f"{result.disjoint} of {result.rows} ({_percent(disjoint)})", disjoint <= AGREEMENT_DISJOINT),
        Check("two measurements' agreement: median half-width of the ratio's interval",
              f"<= {_percent(AGREEMENT_HALF_WIDTH)}",
              f"{_percent(result.half_width('first'))} and {_percent(result.half_width('second'))}",
              width <= AGREEMENT_HALF_WIDTH),
        Check("`make bench` measurement wall time (the report not included)", f"<= {BENCH_SECONDS:.0f} s",
              " and ".join(f"{s:.0f} s" for s in seconds), max(seconds) <= BENCH_SECONDS),
    ]
    return checks, {"agreement": result.table}


def run_suite(targets: list[str], profile: str, order: str, output: Path,
              extra: tuple[str, ...] = (), cwd: Path | None = None) -> tuple[float, int]:
    """Run benchmarks (folders or test ids) in a fresh process, its output in a log beside `output`,
    saying every 20 s which scenario it has come to; (wall seconds, pytest's status)."""
    from tfreuse.commands.bench import run_logged

    command = [sys.executable, "-m", "pytest", *targets, "-v", "-p", "no:cacheprovider",
               "--tfreuse-profile", profile, "--tfreuse-order", order,
               "--benchmark-json", str(output), *extra]
    started = time.perf_counter()
    status = run_logged(command, output.with_suffix(".log"), child_environment({"TF_CPP_MIN_LOG_LEVEL": "2"}),
                        lambda now: print(f"selfcheck:   {now}", flush=True), cwd=cwd)
    return time.perf_counter() - started, status


def _analyzed(path: Path) -> pd.DataFrame:
    from tfreuse.report.analyze import analyze
    from tfreuse.report.load import load

    return analyze(load([path]).rows)


def _machine(path: Path) -> dict:
    import json

    return json.loads(path.read_text()).get("machine_info", {}).get("tfreuse") or {}


def _overhead(path: Path) -> dict | None:
    return _machine(path).get("harness_overhead")


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def memory_differences(deltas: pd.DataFrame) -> list[str]:
    """Test ids of the cases whose memory figures differ between the two orders."""
    differing = deltas[deltas["figure"].isin(MEMORY_FIGURES) & ~deltas["agree"]]
    return sorted(set(differing["test"]))


def evaluate(quick: Path, reversed_quick: Path, aa_runs: list[tuple[Path, Path]], quick_seconds: float | None,
             isolated: tuple[Path, Path] | None = None,
             threshold: float | None = None) -> tuple[list[Check], dict[str, pd.DataFrame]]:
    """The checks from the runs' JSON, and the tables behind them (for the markdown details).

    `aa_runs`: the (base, head) folders of each A/A run, judged at `threshold` (default: ab's).

    `isolated`: two `--tfreuse-isolate` runs (default and reversed order) of the cases whose
    memory figures differed in process; they settle the memory check when they agree.
    """
    checks: list[Check] = []
    if quick_seconds is not None:
        checks.append(Check("quick profile wall time, TensorFlow import included",
                            f"<= {QUICK_SECONDS:.0f} s", f"{quick_seconds:.1f} s",
                            quick_seconds <= QUICK_SECONDS))
    for path in [quick, reversed_quick]:
        measured = _overhead(path)
        if measured is None:
            checks.append(Check(f"harness overhead ({path.name})", f"< {_percent(LIMIT)}",
                                "not recorded", False))
            continue
        checks.append(Check(
            f"harness overhead on {measured['case']} ({path.name})", f"< {_percent(LIMIT)}",
            f"{_percent(measured['overhead'])} [{_percent(measured['overhead_ci_low'])}, "
            f"{_percent(measured['overhead_ci_high'])}]; an RSS read "
            f"{1e6 * measured['rss_sample_s']:.0f} us"
            + (f"; the device wait {1e6 * measured['device_wait_s']:.0f} us, included"
               if measured.get("device_wait_s") else ""), measured["overhead"] < LIMIT))
    deltas = order_deltas(_analyzed(quick), _analyzed(reversed_quick))
    exact = deltas[deltas["figure"].isin(EXACT_FIGURES)]
    memory = deltas[deltas["figure"].isin(MEMORY_FIGURES)]
    checks.append(Check("order independence: traces and variables per step (default vs reversed)",
                        "identical", f"{int(exact['agree'].sum())}/{len(exact)} agree",
                        bool(exact["agree"].all())))
    tolerance = f"within max({kib(RETAINED_TOLERANCE_BYTES)}/step, {_percent(RETAINED_TOLERANCE_RELATIVE)})"
    tables = {"order": deltas[~deltas["agree"]]}
    isolated_agree = None
    if isolated is not None:
        again = order_deltas(_analyzed(isolated[0]), _analyzed(isolated[1]))
        again = again[again["figure"].isin(MEMORY_FIGURES)]
        isolated_agree = bool(len(again)) and bool(again["agree"].all())
        tables["order_isolated"] = again
    worst = memory.loc[memory["delta"].abs().idxmax()] if memory["delta"].notna().any() else None
    in_process = bool(memory["agree"].all())
    checks.append(Check("order independence: retained bytes per step (default vs reversed)",
                        tolerance + ("" if in_process else "; else with --tfreuse-isolate"),
                        f"{int(memory['agree'].sum())}/{len(memory)} agree"
                        + (f"; largest delta {'+' if worst['delta'] > 0 else ''}{kib(worst['delta'])}/step "
                           f"({worst['figure']}, {worst['scenario']} {worst['variant']} {worst['mode']} "
                           f"{worst['size']})"
                           if worst is not None else ""),
                        in_process or bool(isolated_agree)))
    if isolated is not None:
        checks.append(Check(f"order independence with --tfreuse-isolate ({len(memory_differences(deltas))} "
                            "cases that differed)", tolerance,
                            f"{int(again['agree'].sum())}/{len(again)} agree", bool(isolated_agree)))
    if aa_runs:
        from tfreuse.report.compare import WALL_THRESHOLD

        more_checks, more_tables = aa_checks(aa_runs, WALL_THRESHOLD if threshold is None else threshold)
        checks += more_checks
        tables.update(more_tables)
    return checks, tables


def text_table(checks: list[Check]) -> str:
    """The checks as aligned text, one line each."""
    width = max(len(check.name) for check in checks)
    lines = [f"{'check':<{width}}  {'result':<6}  measured (target)"]
    for check in checks:
        lines.append(f"{check.name:<{width}}  {'ok' if check.passed else 'MISSED':<6}  "
                     f"{check.measured} ({check.target})")
    return "\n".join(lines)


def _markdown_rows(table: pd.DataFrame) -> list[str]:
    if table.empty:
        return ["(none)"]
    cells = table.map(lambda v: f"{v:.4g}" if isinstance(v, float) else str(v))
    return (["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
            + ["| " + " | ".join(row) + " |" for row in cells.itertuples(index=False)])


def markdown(checks: list[Check], tables: dict[str, pd.DataFrame]) -> str:
    """The checks and every table behind them, as markdown."""
    lines = ["# tfreuse selfcheck", "", "| check | target | measured | result |", "|---|---|---|---|"]
    lines += [f"| {c.name} | {c.target} | {c.measured} | {'ok' if c.passed else 'missed'} |" for c in checks]
    for name, table in tables.items():
        lines += ["", f"## {name.replace('_', ' ')}", ""] + _markdown_rows(table)
    return "\n".join(lines) + "\n"


class Stages:
    """Says which stage of the self-check runs, of how many, and how long it has taken so far."""

    def __init__(self, total: int):
        self.total, self.done, self.started = total, 0, time.perf_counter()

    def start(self, what: str) -> None:
        """One line as a stage starts: its place, the time so far (and left, at the mean pace of the
        stages done so far), what it runs."""
        minutes = (time.perf_counter() - self.started) / 60
        left = f", about {minutes / self.done * (self.total - self.done):.0f} min left" if self.done else ""
        self.done += 1
        print(f"selfcheck: stage {self.done} of {self.total} ({minutes:.1f} min so far{left}): {what} ...",
              flush=True)


def _measurements(suite: list[str], folder: Path, processes: int, profile: str,
                  cwd: Path, stages: Stages) -> tuple[Path, Path, list[float]]:
    """Two `tfreuse bench` measurements of `suite`, back to back: their folders and wall times."""
    from tfreuse.commands import bench
    from tfreuse.core.errors import UserInputError

    folders, seconds = [], []
    for index in (1, 2):
        place = folder / f"bench-{index}"
        place.mkdir()
        stages.start(f"measurement {index} of 2 (tfreuse bench, {processes} processes, {profile} profile)")
        runs = bench.run_processes(suite, place, processes, f"{folder.name}-{index}",
                                   ["--tfreuse-profile", profile], cwd=cwd)
        if any(run.status != 0 for run in runs):
            raise UserInputError(f"measurement {index} failed; see the logs in {place}")
        folders.append(place)
        seconds.append(sum(run.seconds for run in runs))
    return folders[0], folders[1], seconds


def quiet_check(folder: Path, allow_busy: bool) -> Check:
    """Whether every timed run under `folder` had the machine to itself (`tfreuse.core.busy`): the
    timing checks judge nothing otherwise, unless a busy machine was allowed."""
    from tfreuse.core.busy import of_results

    runs = sorted(folder.rglob("*.json"))
    busy = [f"{path.relative_to(folder)}: {said}" for path in runs if (said := of_results(path))]
    found = f"{len(busy)} of {len(runs)} run(s) busy" + (f"; first: {busy[0]}" if busy else "")
    return Check("machine quiet during every timed run", "no run busy" + (" (busy allowed)" if allow_busy else ""),
                 found, not busy or allow_busy)


def run(benchmarks: Path, output: Path, aa_runs: int = 5, processes: int = 3,
        quick_profile: str = "quick", measurements: int = 2, bench_profile: str = "full",
        bench_processes: int | None = None, allow_busy: bool = False) -> int:
    """Run everything, print the checks, write `selfcheck.md` and the runs' JSON under `output`.

    Refuses to start on a busy machine unless `allow_busy`; fails when a timed run was busy.
    Exit status 0 when every target is met, 1 otherwise; 2 when a run itself failed.
    """
    from tfreuse.commands import ab
    from tfreuse.core.atomic import atomic_write
    from tfreuse.core.busy import busy_now
    from tfreuse.core.errors import UserInputError

    if not benchmarks.is_dir():
        raise UserInputError(f"{benchmarks} is not a folder of benchmarks")
    busy = busy_now()
    if busy and not allow_busy:
        raise UserInputError(f"{busy}: the self-check's timing checks need a quiet machine "
                             "(--allow-busy to run anyway)")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = output / stamp
    folder.mkdir(parents=True, exist_ok=False)
    results: dict[str, Path] = {}
    stages = Stages(2 + aa_runs + (2 if measurements else 0))

    def run_one(name: str, targets: list[str], profile: str, order: str, *extra: str) -> float:
        path = folder / f"{name}.json"
        stages.start(f"{name} ({profile} profile, {order} order)")
        seconds, status = run_suite(targets, profile, order, path, extra, cwd=benchmarks.parent)
        print(f"selfcheck: {name} took {seconds:.1f} s", flush=True)
        if status != 0 or not path.exists():
            raise UserInputError(f"the {name} run failed (pytest exit status {status}); see its output above")
        results[name] = path
        return seconds

    suite = [str(benchmarks.resolve())]
    quick_seconds = run_one("quick-default", suite, quick_profile, "default")
    run_one("quick-reversed", suite, quick_profile, "reversed")
    isolated = None
    rootdir = _machine(results["quick-default"]).get("rootdir", str(benchmarks.parent))
    differing = [str(Path(rootdir) / test) for test in memory_differences(
        order_deltas(_analyzed(results["quick-default"]), _analyzed(results["quick-reversed"])))]
    if differing:
        stages.total += 2
        for order in ("default", "reversed"):
            run_one(f"isolated-{order}", differing, quick_profile, order, "--tfreuse-isolate")
        isolated = (results["isolated-default"], results["isolated-reversed"])
    aa_folders = []
    for index in range(1, aa_runs + 1):
        stages.start(f"A/A run {index} of {aa_runs} (ab --base HEAD --gates wall, {processes} processes a side)")
        aa_folder = ab.run("HEAD", folder / f"aa-{index}", processes=processes, profile=quick_profile,
                           benchmarks=str(benchmarks.resolve()), repo=benchmarks.resolve().parent, gates=("wall",))
        aa_folders.append((aa_folder / "base", aa_folder / "head"))
    checks, tables = evaluate(results["quick-default"], results["quick-reversed"], aa_folders, quick_seconds,
                              isolated)
    if measurements:
        from tfreuse.commands.bench import DEFAULT_PROCESSES

        more_checks, more_tables = agreement_checks(*_measurements(
            suite, folder, bench_processes or DEFAULT_PROCESSES, bench_profile, benchmarks.parent, stages))
        checks += more_checks
        tables.update(more_tables)
    checks.append(quiet_check(folder, allow_busy))
    print(text_table(checks))
    atomic_write(folder / "selfcheck.md", markdown(checks, tables))
    print(f"selfcheck: details in {folder / 'selfcheck.md'}")
    return 0 if all(check.passed for check in checks) else 1
