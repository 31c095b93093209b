"""Result files for report tests, derived from the committed fixtures."""

import json
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).parent / "fixtures"
MACHINE_A = FIXTURES / "tfreuse_machine_a.json"


def derived_run(folder: Path, name: str, label: str | None = None, slowdown: float = 1.0,
                extra_traces: float = 0.0, stamp: str | None = None, commit: str | None = None) -> Path:
    """A copy of machine A's run with another label, scaled timings, more traces or another commit."""
    data = json.loads(MACHINE_A.read_text())
    if label:
        data["machine_info"]["tfreuse"]["label"] = label
    if stamp:
        data["datetime"] = stamp
    if commit:
        data["commit_info"]["id"] = commit
    for bench in data["benchmarks"]:
        stats = bench["stats"]
        stats["data"] = [x * slowdown for x in stats["data"]]
        for key in ("min", "max", "mean", "median", "stddev", "iqr"):
            stats[key] *= slowdown
        bench["extra_info"]["traces_per_step"] += extra_traces
    path = folder / name
    path.write_text(json.dumps(data))
    return path


# The scenarios of a full run (November 2026: 13 scenarios, 200 results), for a report of that shape.
FULL_RUN_SCENARIOS = ("attention", "function_in_loop", "function_rules", "layers_in_call",
                      "load_per_request", "model_in_loop", "predict_in_loop", "python_scalar_args",
                      "recompile_in_loop", "recurrent", "shared_layer", "training_loop",
                      "transfer_learning")


def many_scenario_run(folder: Path, name: str = "many.json", scenarios=FULL_RUN_SCENARIOS) -> Path:
    """A run shaped like a full one: machine A's shared_layer cases (4 variants, 2 modes) copied
    into every scenario at two sizes, with seeded timings of 20 to 300 rounds, variants 1.5 to
    300 times shared, retained bytes and traces in the ranges a full run records."""
    data = json.loads(MACHINE_A.read_text())
    template = [b for b in data["benchmarks"] if b["extra_info"]["scenario"] == "shared_layer"]
    shared_median = {b["extra_info"]["mode"]: b["stats"]["median"] for b in template
                     if b["extra_info"]["variant"] == "shared"}
    rng = np.random.default_rng(20)
    benchmarks = []
    for scenario in scenarios:
        for size, scale in (("small", 1.0), ("large", 4.0)):
            for original in template:
                bench = json.loads(json.dumps(original))
                info = bench["extra_info"]
                info.update(scenario=scenario, size=size)
                case = f"{info['variant']}-{info['mode']}-CPU:0-{size}"
                bench["name"] = f"test_{scenario}[{case}]"
                bench["fullname"] = f"benchmarks/test_{scenario}.py::{bench['name']}"
                bench["group"] = f"{scenario}-{info['mode']}-CPU:0-{size}"
                rounds = int(rng.integers(20, 301))
                cost = 1.0 if info["variant"] == "shared" else float(rng.uniform(1.5, 300))
                samples = shared_median[info["mode"]] * scale * cost * rng.lognormal(0, 0.1, rounds)
                bench["stats"].update(data=samples.tolist(), rounds=rounds, median=float(np.median(samples)),
                                      mean=float(samples.mean()), stddev=float(samples.std(ddof=1)),
                                      min=float(samples.min()), max=float(samples.max()))
                info["retained_bytes_per_step"] = 0.0 if info["variant"] == "shared" else float(rng.uniform(0, 4e6))
                info["traces_per_step"] = float(info["variant"] == "reinstantiated" and info["mode"] == "function")
                benchmarks.append(bench)
    data["benchmarks"] = benchmarks
    path = folder / name
    path.write_text(json.dumps(data))
    return path


def measured_processes(folder: Path, slowdowns=(1.0, 1.3, 0.9), identity="20261206T000000Z") -> list[Path]:
    """Machine A's run as the processes of one measurement, each variant `slowdown` times slower
    than in the fixture, so the processes' ratios differ."""
    paths = []
    for process, slowdown in enumerate(slowdowns, start=1):
        data = json.loads(MACHINE_A.read_text())
        data["datetime"] = f"2026-12-06T00:0{process}:00"
        data["machine_info"]["tfreuse"]["measurement"] = {"id": identity, "process": process,
                                                         "processes": len(slowdowns)}
        data["machine_info"]["tfreuse"]["conditions"] = {"cpu_affinity": [1]}
        for entry in data["benchmarks"]:
            if process > 1:  # timing-only, as `tfreuse bench` runs every process after the first
                entry["extra_info"].update(retained_bytes_per_step=None, memory_window_steps=0)
            # Each process's `shared` rounds a little slower than the last one's: a ratio must be
            # taken against the `shared` rounds of its own process.
            scale = 1 + process / 100 if entry["extra_info"]["variant"] == "shared" else slowdown
            entry["stats"]["data"] = [x * scale for x in entry["stats"]["data"]]
            for key in ("min", "max", "mean", "median", "stddev", "iqr"):
                entry["stats"][key] *= scale
        path = folder / f"process-{process:02d}.json"
        path.write_text(json.dumps(data))
        paths.append(path)
    return paths
