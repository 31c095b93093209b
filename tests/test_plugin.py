"""The plugin end to end, in a subprocess: parametrization, skips, JSON and machine identity.

The plugin comes from the installed package's pytest11 entry point: nothing here loads it.
"""

import json

import pytest

from tfreuse import schema
from tfreuse.profiles import PROFILES

from tests.toys import TOY_BENCHMARK

pytest_plugins = ["pytester"]



@pytest.fixture
def toy_run(pytester):
    pytester.makepyfile(test_toy=TOY_BENCHMARK)
    result = pytester.runpytest_subprocess(
        "--tfreuse-devices", "CPU:0,GPU:0", "--tfreuse-profile", "smoke",
        "--benchmark-json", "out.json", "-rs", "-p", "no:cacheprovider",
    )
    return result, json.loads((pytester.path / "out.json").read_text())


def test_absent_gpu_is_skipped_with_its_reason_and_cpu_runs(toy_run):
    result, _ = toy_run
    result.assert_outcomes(passed=3, skipped=5)
    result.stdout.fnmatch_lines(["*GPU:0 requested but TensorFlow sees only CPU:0*"])
    result.stdout.fnmatch_lines(["*not interesting here*"])


def test_json_rows_carry_the_schema_and_raw_timings(toy_run):
    _, data = toy_run
    names = sorted(b["name"] for b in data["benchmarks"])
    assert names == ["test_tiny[reinstantiated-function-CPU:0-one]",
                     "test_tiny[shared-eager-CPU:0-one]", "test_tiny[shared-function-CPU:0-one]"]
    for bench in data["benchmarks"]:
        schema.validate(bench["extra_info"])
        assert bench["stats"]["data"]
    by_variant = {b["extra_info"]["variant"] + "-" + b["extra_info"]["mode"]: b["extra_info"]
                  for b in data["benchmarks"]}
    assert by_variant["reinstantiated-function"]["variables_created"] == 3
    # one timed round in the smoke profile: flagged as too few to trust, as pyperf would
    assert all(b["extra_info"]["timing_unstable"] is True for b in data["benchmarks"])


def test_machine_info_names_tensorflow_and_a_label(toy_run):
    _, data = toy_run
    info = data["machine_info"]["tfreuse"]
    assert info["tensorflow"] and info["keras"] and info["label"]
    assert info["profile"]["name"] == "smoke"


def test_machine_info_records_conditions_and_harness_overhead(toy_run):
    _, data = toy_run
    info = data["machine_info"]["tfreuse"]
    conditions = info["conditions"]
    assert conditions["order"] == "default" and conditions["seed"] == 0
    assert "gc.freeze" in conditions["gc_during_timing"]
    assert {"intra_op_threads", "inter_op_threads", "onednn", "cpu_allocator_bfc"} <= set(conditions)
    overhead = info["harness_overhead"]
    # Measured on the cheaper of the two timed shared cases of this run.
    medians = {b["name"]: b["stats"]["median"] for b in data["benchmarks"] if "[shared-" in b["name"]}
    assert overhead["case"] == "tiny[" + min(medians, key=medians.get).split("[")[1]
    assert overhead["steps_each"] == PROFILES["smoke"].overhead_steps
    assert overhead["overhead_ci_low"] <= overhead["overhead"] <= overhead["overhead_ci_high"]


def test_reversed_order_runs_the_same_cases_backwards(pytester):
    pytester.makepyfile(test_toy=TOY_BENCHMARK)
    runs = {}
    for order in ("default", "reversed"):
        result = pytester.runpytest_subprocess("--tfreuse-profile", "smoke", "--tfreuse-order", order,
                                               "--benchmark-disable", "-v", "-p", "no:cacheprovider")
        runs[order] = [line.split("::")[1].split(" ")[0] for line in result.outlines
                       if "::test_tiny[" in line and ("PASSED" in line or "SKIPPED" in line)]
    assert len(runs["default"]) == 4 and runs["reversed"] == runs["default"][::-1]


def test_isolate_takes_probe_figures_from_a_fresh_process(pytester):
    pytester.makepyfile(test_toy=TOY_BENCHMARK)
    result = pytester.runpytest_subprocess("--tfreuse-profile", "smoke", "--tfreuse-isolate",
                                           "--benchmark-json", "out.json", "-p", "no:cacheprovider",
                                           "-k", "reinstantiated-function")
    result.assert_outcomes(passed=1, deselected=3)
    (bench,) = json.loads((pytester.path / "out.json").read_text())["benchmarks"]
    record = bench["extra_info"]
    schema.validate(record)
    assert record["probe_process"] == "isolated"
    assert record["variables_created"] == record["measured_steps"]  # one tf.Variable per step



@pytest.mark.parametrize("arguments, environment, message", [
    (["--tfreuse-modes", "eager,graph"], {}, "*--tfreuse-modes: graph is not a mode*"),
    (["--tfreuse-devices", "TPU:0"], {}, "*'TPU:0' is not a device name*"),
    (["--tfreuse-order", "random"], {}, "*--tfreuse-order: 'random' is not an order*"),
    ([], {"TFREUSE_INTRA_OP_THREADS": "many"}, "*TFREUSE_INTRA_OP_THREADS='many' is not a thread count*"),
])
def test_bad_option_is_a_one_line_usage_error(pytester, monkeypatch, arguments, environment, message):
    pytester.makepyfile(test_toy=TOY_BENCHMARK)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    result = pytester.runpytest_subprocess(*arguments)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


EARLY_STOP = """
from tfreuse.harness import _round_durations, _timed_rounds
from tfreuse.precision import StoppingRule


def test_stops_early(benchmark):
    rule = StoppingRule(_round_durations(benchmark), at_least=3, at_most=50, target=float("inf"))
    _timed_rounds(benchmark, lambda: None, rule, before_each=None, after_each=lambda: None)
    assert rule.reason == "planned"
"""


def test_a_precise_stop_keeps_pytest_benchmarks_rounds_in_the_json(pytester):
    pytester.makepyfile(test_early=EARLY_STOP)
    result = pytester.runpytest_subprocess("--benchmark-json", "out.json", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    (bench,) = json.loads((pytester.path / "out.json").read_text())["benchmarks"]
    assert bench["stats"]["rounds"] == len(bench["stats"]["data"]) == 3
