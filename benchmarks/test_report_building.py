"""Report building at scale: many result files from many machines into one report.

Not a variable-reuse scenario: a plain pytest-benchmark benchmark of `tfreuse report` itself, on
synthetic result files shaped like the suite's own (6 scenarios, 200 results a file; 10 machines
x 10 runs = 100 files and 20,000 results in the full profile; a tenth of that in quick and smoke,
which must stay short). The timer covers loading, analysis (bootstrap intervals included), plots
and writing HTML and CSV.
"""

import json

import numpy as np

from tfreuse.core.profiles import Profile
from tfreuse.engine.harness import Case, base_record
from tfreuse.report.load import load
from tfreuse.report.output import write_report

NOT_A_SCENARIO = "benchmarks the report builder, not a variable-reuse pattern"
VARIANTS = ("shared", "reinstantiated", "reinitialized", "mitigated")
MODES = ("eager", "function")
SCENARIOS = 6
SAMPLES_PER_RESULT = 20


def _result(rng, machine: int, case: Case, profile: Profile) -> dict:
    cost = {"shared": 1.0, "reinstantiated": 40.0, "reinitialized": 4.0, "mitigated": 1.05}[case.variant]
    samples = (1e-3 * cost * (1 + machine / 10) * rng.lognormal(0, 0.05, SAMPLES_PER_RESULT)).tolist()
    extra = base_record(case, {"batch": 32}, profile)
    extra.update(measured_steps=20, traces_per_step=float(case.variant == "reinstantiated"),
                 rss_growth_per_step_bytes=float(rng.normal(0, 100)))
    return {
        "group": None, "name": f"test_{case.scenario}[{case.id}]",
        "fullname": f"benchmarks/test_{case.scenario}.py::test_{case.scenario}[{case.id}]",
        "extra_info": extra,
        "stats": {"min": min(samples), "max": max(samples), "mean": float(np.mean(samples)),
                  "stddev": float(np.std(samples, ddof=1)), "median": float(np.median(samples)),
                  "iqr": 0.0, "rounds": SAMPLES_PER_RESULT, "ops": 1 / float(np.mean(samples)),
                  "data": samples},
    }


def write_results(folder, machines: int, runs: int, results_per_file: int, profile: Profile) -> int:
    """Write machines x runs result files; return how many results they hold."""
    rng = np.random.default_rng(0)
    sizes = -(-results_per_file // (SCENARIOS * len(MODES) * len(VARIANTS)))
    cases = [Case(f"scenario_{s}", v, m, "CPU:0", f"size{z}") for s in range(SCENARIOS)
             for z in range(sizes) for m in MODES for v in VARIANTS][:results_per_file]
    for machine in range(machines):
        for run in range(runs):
            data = {"machine_info": {"tfreuse": {"label": f"machine-{machine}"}, "cpu": {}},
                    "commit_info": {}, "datetime": f"2026-01-{run + 1:02d}T00:00:00",
                    "version": "5.1.0",
                    "benchmarks": [_result(rng, machine, case, profile) for case in cases]}
            (folder / f"m{machine}-r{run}.json").write_text(json.dumps(data))
    return machines * runs * len(cases)


def test_report_building(benchmark, tmp_path, tfreuse_profile):
    scale = 1 if tfreuse_profile.name == "full" else 10
    inputs = tmp_path / "results"
    inputs.mkdir()
    rows = write_results(inputs, machines=10 // scale, runs=10, results_per_file=200 // scale,
                         profile=tfreuse_profile)
    benchmark.extra_info.update(result_files=len(list(inputs.iterdir())), result_rows=rows)
    loaded = []

    def build_report():
        loaded.append(load([inputs]))
        return write_report(loaded[-1], tmp_path / "report")

    written = benchmark.pedantic(build_report, rounds=1)
    assert len(loaded[-1].rows) == rows  # the rows the timed report was built from, not a second load
    assert written["html"].exists()
