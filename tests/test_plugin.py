"""The plugin end to end, in a subprocess: parametrization, skips, JSON and machine identity.

The plugin comes from the installed package's pytest11 entry point: nothing here loads it.
"""

import json

import pytest

from tfreuse.core import schema
from tfreuse.core.profiles import PROFILES

from tests.toys import TOY_BENCHMARK, fake_gpu_conftest, toy_expectations, with_fake_gpu

pytestmark = pytest.mark.slow  # every test runs pytest on a suite in a subprocess (pytester)

pytest_plugins = ["pytester"]

TOY_DEVICES = ["CPU:0", "GPU:0"]


@pytest.fixture(scope="session")
def host_devices():
    """The devices TensorFlow sees on this host: every expectation below follows from them."""
    from tfreuse.core.devices import visible_devices

    return visible_devices()


def _run_toy(pytester) -> tuple:
    pytester.makepyfile(test_toy=TOY_BENCHMARK)
    result = pytester.runpytest_subprocess(
        "--tfreuse-devices", ",".join(TOY_DEVICES), "--tfreuse-profile", "smoke",
        "--benchmark-json", "out.json", "-rs", "-p", "no:cacheprovider",
    )
    return result, json.loads((pytester.path / "out.json").read_text())


@pytest.fixture
def toy_run(pytester):
    return _run_toy(pytester)


@pytest.fixture
def toy_expected(host_devices):
    """What the toy run must show on this host, from the devices TensorFlow sees here."""
    return toy_expectations(TOY_DEVICES, host_devices)


def assert_devices_run_or_skip(result, expected) -> None:
    """The requested devices that exist ran; each absent one was skipped with its reason."""
    result.assert_outcomes(passed=expected["passed"], skipped=expected["skipped"])
    for name in expected["absent"]:
        result.stdout.fnmatch_lines([f"*{name} requested but TensorFlow sees only*"])
    if not expected["absent"]:
        assert "requested but TensorFlow sees only" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*not interesting here*"])


def assert_gpus_warmed(data, expected) -> None:
    """Each requested GPU that exists was warmed up, its wait measured, in machine_info."""
    warmed = data["machine_info"]["tfreuse"]["gpu_warm_up"]
    assert sorted(warmed) == [name for name in expected["present"] if name.startswith("GPU")]
    for figures in warmed.values():
        assert figures["warm_up_s"] > 0 and figures["wait_s"] > 0 and figures["placed_on"]


def test_requested_devices_run_and_absent_ones_are_skipped_with_their_reason(toy_run, toy_expected):
    result, data = toy_run
    assert_devices_run_or_skip(result, toy_expected)
    assert sorted(b["name"] for b in data["benchmarks"]) == toy_expected["names"]
    assert_gpus_warmed(data, toy_expected)


def test_with_one_more_gpu_listed_the_expectations_follow(pytester, host_devices):
    """As on a host with one GPU more (CPU:0 and GPU:0 on this one): the listing is faked, the
    GPU's ops are soft-placed on the CPU by TensorFlow, its memory growth said to be off."""
    pytester.makeconftest(fake_gpu_conftest())
    visible = with_fake_gpu(host_devices)
    expected = toy_expectations(TOY_DEVICES, visible)
    result, data = _run_toy(pytester)
    assert_devices_run_or_skip(result, expected)
    assert sorted(b["name"] for b in data["benchmarks"]) == expected["names"]
    for bench in data["benchmarks"]:
        schema.validate(bench["extra_info"])
    assert_gpus_warmed(data, expected)
    # Each GPU warmed once, before the first case; one warning about the fake GPU's memory growth.
    gpus = [name for name in expected["present"] if name.startswith("GPU")]
    events = (pytester.path / "events.log").read_text().splitlines()
    assert events[:len(gpus)] == [f"warm {name}" for name in gpus]
    assert sorted(events[len(gpus):]) == sorted(f"case {name.split('[')[1][:-1]}" for name in expected["names"])
    fake = visible[-1]
    if fake in TOY_DEVICES:
        assert result.stdout.str().count(f"GpuMemoryWarning: memory growth is off on {fake} ") == 1


def test_json_rows_carry_the_schema_and_raw_timings(toy_run):
    _, data = toy_run
    for bench in data["benchmarks"]:
        schema.validate(bench["extra_info"])
        assert bench["stats"]["data"]
    for bench in data["benchmarks"]:
        record = bench["extra_info"]
        if record["variant"] == "reinstantiated":
            assert record["variables_created"] == 3
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
    assert {"intra_op_threads", "inter_op_threads"} <= set(conditions)
    # Environment settings once, beside the conditions; thread counts once, in them.
    assert {"TF_ENABLE_ONEDNN_OPTS", "TF_CPU_ALLOCATOR_USE_BFC"} <= set(info["env"])
    assert not {"onednn", "cpu_allocator_bfc"} & set(conditions)
    assert not {"intra_op_threads", "inter_op_threads"} & set(info)
    overhead = info["harness_overhead"]
    # Measured on the cheaper of the two timed shared cases of this run.
    medians = {b["name"]: b["stats"]["median"] for b in data["benchmarks"] if "[shared-" in b["name"]}
    assert overhead["case"] == "tiny[" + min(medians, key=medians.get).split("[")[1]
    assert overhead["steps_each"] == PROFILES["smoke"].overhead_steps
    assert overhead["overhead_ci_low"] <= overhead["overhead"] <= overhead["overhead_ci_high"]
    # The device wait's fixed cost (none on CPU) is counted in the overhead.
    assert overhead["overhead"] == pytest.approx(
        overhead["probe_overhead"] + overhead["device_wait_s"] / overhead["bare_median_s"])


def test_reversed_order_runs_the_same_cases_backwards(pytester, host_devices):
    pytester.makepyfile(test_toy=TOY_BENCHMARK)
    runs = {}
    for order in ("default", "reversed"):
        result = pytester.runpytest_subprocess("--tfreuse-profile", "smoke", "--tfreuse-order", order,
                                               "--benchmark-disable", "-v", "-p", "no:cacheprovider")
        runs[order] = [line.split("::")[1].split(" ")[0] for line in result.outlines
                       if "::test_tiny[" in line and ("PASSED" in line or "SKIPPED" in line)]
    assert len(runs["default"]) == 4 * len(host_devices) and runs["reversed"] == runs["default"][::-1]


def test_isolate_takes_probe_figures_from_a_fresh_process(pytester):
    pytester.makepyfile(test_toy=TOY_BENCHMARK)
    result = pytester.runpytest_subprocess("--tfreuse-profile", "smoke", "--tfreuse-isolate",
                                           "--benchmark-json", "out.json", "-p", "no:cacheprovider",
                                           "--tfreuse-devices", "cpu", "-k", "reinstantiated-function")
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
    (["--tfreuse-measurement", "run:4/3"], {}, "*--tfreuse-measurement 'run:4/3': expected ID:K/N*"),
    (["--tfreuse-measurement", "3"], {}, "*--tfreuse-measurement '3': expected ID:K/N*"),
    ([], {"TFREUSE_INTRA_OP_THREADS": "many"}, "*TFREUSE_INTRA_OP_THREADS='many' is not a thread count*"),
])
def test_bad_option_is_a_one_line_usage_error(pytester, monkeypatch, arguments, environment, message):
    pytester.makepyfile(test_toy=TOY_BENCHMARK)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    result = pytester.runpytest_subprocess(*arguments)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
