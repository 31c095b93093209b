"""One measurement in K fresh processes: running them, merging them, and naming what intervals cover."""

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tfreuse.commands import bench
from tfreuse.core import intervals
from tfreuse.report.agreement import agreement
from tfreuse.report.analyze import analyze, interval_label
from tfreuse.report.findings import table as findings_table
from tfreuse.report.load import load
from tfreuse.report.output import interval_columns, write_report

from tests.report_helpers import MACHINE_A, measured_processes

pytest_plugins = ["pytester"]


def _ratios(analyzed: pd.DataFrame) -> pd.Series:
    rows = analyzed[(analyzed["outcome"] == "ok") & analyzed["ratio"].notna()]
    return rows.set_index(["scenario", "variant", "mode"])["ratio"]


def test_the_processes_of_a_measurement_become_one_row_per_benchmark(tmp_path):
    paths = measured_processes(tmp_path)
    merged = analyze(load(paths).rows)
    alone = [_ratios(analyze(load([path]).rows)) for path in paths]
    assert len(merged) == len(load([paths[0]]).rows)
    assert set(merged["processes"]) == {3}
    ratios = _ratios(merged)
    # The figure is the geometric mean of the processes' own ratios (up to the fixture's stored
    # medians, which differ from its rounds' in the fifth digit).
    expected = np.exp(np.mean([np.log(r.reindex(ratios.index)) for r in alone], axis=0))
    assert ratios.to_numpy() == pytest.approx(expected, rel=1e-3)
    varied = merged[(merged["variant"] == "reinstantiated") & (merged["outcome"] == "ok")]
    assert (varied["ratio_ci_low"] < varied["ratio"]).all() and (varied["ratio"] < varied["ratio_ci_high"]).all()
    shared = merged[merged["variant"] == "shared"]
    assert set(shared["ratio_ci_low"]) == set(shared["ratio_ci_high"]) == {1.0}
    # What only the first process measured is the first process's.
    first = load([paths[0]]).rows.set_index("fullname")["retained_bytes_per_step"]
    kept = merged.set_index("fullname")["retained_bytes_per_step"]
    assert kept.to_numpy(float) == pytest.approx(first.reindex(kept.index).to_numpy(float), nan_ok=True)


def test_the_merged_interval_holds_the_next_measurement_from_the_bootstrap_over_processes(tmp_path):
    paths = measured_processes(tmp_path)
    merged = analyze(load(paths).rows)
    row = merged[(merged["scenario"] == "shared_layer") & (merged["variant"] == "reinstantiated")
                 & (merged["mode"] == "eager")].iloc[0]
    tops, bottoms = [], []
    for path in paths:
        rows = load([path]).rows.set_index(["scenario", "variant", "mode"])
        tops.append(rows.loc[("shared_layer", "reinstantiated", "eager"), "samples"])
        bottoms.append(rows.loc[("shared_layer", "shared", "eager"), "samples"])
    assert (row["ratio_ci_low"], row["ratio_ci_high"]) == pytest.approx(intervals.next_measurement(tops, bottoms))
    # Widened by sqrt(2) in log space about the figure, from the interval of the figure itself.
    low, high = intervals.interval(intervals.hierarchical(tops, bottoms))
    centre = np.log(row["ratio"])
    assert np.log(row["ratio_ci_high"]) - centre == pytest.approx(np.sqrt(2) * (np.log(high) - centre), rel=1e-3)
    assert centre - np.log(row["ratio_ci_low"]) == pytest.approx(np.sqrt(2) * (centre - np.log(low)), rel=1e-3)
    # Files given in another order give the same figures: processes are merged in their own order.
    again = analyze(load(list(reversed(paths))).rows)
    assert _ratios(again).sort_index().to_numpy() == pytest.approx(_ratios(merged).sort_index().to_numpy())


def test_a_single_process_keeps_its_rows_and_is_labelled_within_one_process(tmp_path):
    analyzed = analyze(load([MACHINE_A]).rows)
    assert set(analyzed["processes"]) == {1}
    assert interval_label(analyzed["processes"]) == "within-process interval"
    assert interval_label(3) == "95% interval over 3 processes"
    assert "within one process" in interval_label([1, 3])


def test_the_csv_names_each_interval_for_what_it_covers(tmp_path):
    single = interval_columns(analyze(load([MACHINE_A]).rows))
    assert "ratio_ci_low" not in single
    assert single["ratio_interval95_over_processes_low"].isna().all()
    assert single["ratio_within_process_low"].notna().any()
    merged = interval_columns(analyze(load(measured_processes(tmp_path)).rows))
    assert merged["ratio_within_process_high"].isna().all()
    assert merged["ratio_interval95_over_processes_high"].notna().any()


def test_the_report_of_a_measurement_says_its_intervals_span_processes(tmp_path):
    paths = measured_processes(tmp_path)
    written = write_report(load(paths), tmp_path / "report")
    page = written["html"].read_text()
    assert "95% interval over 3 processes" in page and "within-process interval" not in page
    header = written["csv"].read_text().splitlines()[0].split(",")
    assert "ratio_interval95_over_processes_low" in header


def test_findings_of_a_measurement_name_its_processes_and_their_interval(tmp_path):
    block = findings_table(load(measured_processes(tmp_path)))
    assert "3 fresh processes each pinned to one core" in block
    assert "time / reuse [95% interval over 3 processes]" in block


def test_agreement_counts_coverage_both_ways_and_disjoint_intervals():
    case = {"scenario": "s", "mode": "function", "device": "CPU:0", "size": "small", "tfreuse": True,
            "outcome": "ok", "processes": 3}

    def measurement(rows):
        return pd.DataFrame([{**case, "variant": v, "ratio": r, "ratio_ci_low": lo, "ratio_ci_high": hi}
                             for v, r, lo, hi in rows])

    first = measurement([("a", 2.0, 1.8, 2.2), ("b", 10.0, 9.0, 11.0), ("c", 5.0, 4.9, 5.1),
                         ("shared", 1.0, 1.0, 1.0)])
    second = measurement([("a", 2.1, 2.05, 2.15), ("b", 12.0, 10.5, 13.5), ("c", 6.0, 5.5, 6.5),
                          ("shared", 1.0, 1.0, 1.0)])
    result = agreement(first, second)
    assert result.rows == 3  # `shared` left out
    assert result.covered("first") == pytest.approx(1 / 3)  # only a's 2.1 lies in [1.8, 2.2]
    assert result.covered("second") == 0.0  # 2.0, 10.0 and 5.0 all lie below the second's intervals
    assert result.disjoint == 1  # c: [4.9, 5.1] and [5.5, 6.5]
    assert result.change(1.0) == pytest.approx(0.2)
    assert result.half_width("first") == pytest.approx(0.1)
    assert result.intervals == ("95% interval over 3 processes",) * 2


def test_processes_alternate_their_order():
    assert [bench.order_of(k) for k in range(1, 5)] == ["default", "reversed", "default", "reversed"]


AFFINITY_TEST = """
import json, os

def test_where_it_runs(request):
    json_path = str(request.config.getoption("benchmark_json"))
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    with open(json_path + ".cores", "w") as out:
        json.dump({"cores": cores, "order": request.config.getoption("tfreuse_order"),
                   "measurement": request.config.getoption("tfreuse_measurement")}, out)
"""


@pytest.mark.slow
def test_run_processes_runs_k_fresh_pinned_processes_and_says_how_far_it_has_come(tmp_path):
    (tmp_path / "test_where.py").write_text(AFFINITY_TEST)
    said = []
    runs = bench.run_processes([str(tmp_path / "test_where.py")], tmp_path, 2, "m1", say=said.append,
                               cwd=tmp_path)
    assert [run.status for run in runs] == [0, 0]
    seen = [json.loads(Path(f"{run.json_path}.cores").read_text()) for run in runs]
    assert [s["order"] for s in seen] == ["default", "reversed"]
    assert [s["measurement"] for s in seen] == ["m1:1/2", "m1:2/2"]
    if hasattr(os, "sched_setaffinity"):
        assert all(s["cores"] == [bench.pinned_core()] for s in seen)
    assert said[0].startswith("tfreuse bench: process 1/2 (default order")
    done = [line for line in said if " done in " in line]
    assert "left" in done[0] and done[1].startswith("tfreuse bench: process 2/2 done in ") and "left" not in done[1]
    (tmp_path / "free").mkdir()
    (unpinned,) = bench.run_processes([str(tmp_path / "test_where.py")], tmp_path / "free", 1, "m2",
                                      say=said.append, pin=False, cwd=tmp_path)
    cores = json.loads(Path(f"{unpinned.json_path}.cores").read_text())["cores"]
    if hasattr(os, "sched_getaffinity"):
        assert cores == sorted(os.sched_getaffinity(0))


def test_whereabouts_names_the_scenario_and_share_of_cases_a_process_has_come_to(tmp_path):
    log = tmp_path / "process-01.log"
    assert bench.whereabouts(log) is None  # not written yet
    log.write_text("collected 12 items\n\nbenchmarks/test_shared_layer.py::test_shared_layer[shared-eager-CPU:0-small] "
                   "PASSED [  8%]\nbenchmarks/test_attention.py::test_attention[per_position-jit-CPU:0-len8] "
                   "SKIPPED (XLA ...) [ 42%]\n")
    assert bench.whereabouts(log) == "attention, 42% of the cases"
    log.write_text(log.read_text() + "benchmarks/test_attention.py::test_attention[shared-jit-CPU:0-len8] PASSED"
                   " [ 50%]\n")
    assert bench.whereabouts(log) == "attention, 50% of the cases"


def test_bench_refuses_bad_input_before_starting_a_process(tmp_path):
    from tfreuse.core.errors import UserInputError

    with pytest.raises(UserInputError, match="^--processes must be at least 1, not 0$"):
        bench.run_processes(["x"], tmp_path, 0, "m")
    with pytest.raises(UserInputError, match="no such benchmarks file or folder"):
        bench.run([str(tmp_path / "missing")], tmp_path / "out")
    with pytest.raises(UserInputError, match="unknown tfreuse profile 'huge'"):
        bench.run([str(tmp_path)], tmp_path / "out", profile="huge")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_plugin_records_which_process_of_which_measurement_it_was(pytester):
    pytester.makepyfile(test_toy="""
import keras
import tensorflow as tf


def test_mine(reuse_benchmark):
    reuse_benchmark(make_layer=lambda: keras.layers.Dense(2), make_inputs=lambda: tf.ones((2, 3)))
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--tfreuse-profile", "smoke",
                                           "--tfreuse-measurement", "m7:2/3", "-k", "shared and eager",
                                           "--benchmark-json", "out.json")
    result.assert_outcomes(passed=1)
    info = json.loads((pytester.path / "out.json").read_text())["machine_info"]["tfreuse"]
    assert info["measurement"] == {"id": "m7", "process": 2, "processes": 3}
    if hasattr(os, "sched_getaffinity"):
        assert info["conditions"]["cpu_affinity"] == sorted(os.sched_getaffinity(0))


def test_the_terminal_table_has_every_scenario_of_a_measurement_with_its_interval_named():
    from tfreuse.report.terminal import table

    analyzed = analyze(load([Path(__file__).resolve().parents[1] / "docs" / "findings-run"]).rows)
    lines = table(analyzed)
    assert lines[0].endswith("time / reuse [95% interval over 4 processes])")
    recreating = analyzed[analyzed["tfreuse"].astype(bool) & analyzed["ratio"].notna()
                          & (analyzed["variant"] != "shared")]
    named = {line.split()[0] for line in lines[2:] if line and not line.startswith((" ", "Refused"))}
    assert set(recreating["scenario"]) <= named
    assert lines[-1].startswith("Refused by TensorFlow or Keras")
