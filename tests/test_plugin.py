"""The plugin end to end, in a subprocess: parametrization, skips, JSON and machine identity.

The plugin comes from the installed package's pytest11 entry point: nothing here loads it.
"""

import json

import pytest

from tfreuse import schema

pytest_plugins = ["pytester"]

TOY_BENCHMARK = '''
import tensorflow as tf
from tfreuse.harness import Scenario, benchmark_test

class Tiny(Scenario):
    name = "tiny"
    variants = ("shared", "reinstantiated")
    sizes = {"one": {"n": 2}}
    skips = {("reinstantiated", "eager"): "not interesting here"}

    def shared(self, ctx):
        x = tf.ones((ctx.params["n"],))
        f = ctx.compile(lambda t: t + 1)
        return lambda: f(x)

    def reinstantiated(self, ctx):
        f = ctx.compile(lambda v: v + 1)
        return lambda: f(tf.Variable(1.0))

test_tiny = benchmark_test(Tiny())
'''


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


def test_bad_modes_are_a_usage_error(pytester):
    pytester.makepyfile(test_toy=TOY_BENCHMARK)
    result = pytester.runpytest_subprocess("--tfreuse-modes", "eager,graph")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--tfreuse-modes: graph is not a mode*"])


def test_bad_device_name_is_a_usage_error(pytester):
    pytester.makepyfile(test_toy=TOY_BENCHMARK)
    result = pytester.runpytest_subprocess("--tfreuse-devices", "TPU:0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*'TPU:0' is not a device name*"])
