"""tfreuse as a user runs it: the installed console script and `pytest`, in fresh processes,
from a folder outside the repository (smoke profile, so nothing here is a timing run)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # every test runs pytest or a `tfreuse` command in a subprocess, as a user would

TFREUSE = Path(sys.executable).with_name("tfreuse")  # the console script installed beside python
VARIANTS = {"shared", "reinstantiated", "reinitialized", "mitigated"}

USER_FACTORIES = '''
import keras


def make_block():
    """The user's factory: a small Sequential model, made anew on every call."""
    return keras.Sequential([keras.layers.Dense(8, activation="relu"), keras.layers.Dense(4)])
'''

# A test module like many: a constant tensor at import time (TensorFlow starts before collection),
# one test parametrized over several layers, one naming its scenario itself, and a layer that
# cannot be re-drawn.
USER_TESTS = '''
import keras
import numpy as np
import pytest
import tensorflow as tf

SCALE = tf.constant(0.5)  # made at import time, before tfreuse could set the thread pools

LAYERS = {
    "dense": (lambda: keras.layers.Dense(8), (4, 8)),
    "lstm": (lambda: keras.layers.LSTM(8), (4, 3, 8)),
    "conv2d": (lambda: keras.layers.Conv2D(4, (3, 3)), (2, 6, 6, 3)),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer(reuse_benchmark, name):
    make, shape = LAYERS[name]
    record = reuse_benchmark(make_layer=make, make_inputs=lambda: SCALE * tf.ones(shape))
    assert record["scenario"] == f"layer[{name}]"


def test_named(reuse_benchmark):
    reuse_benchmark(make_layer=lambda: keras.layers.Dense(8), make_inputs=lambda: tf.ones((4, 8)),
                    name="my dense", size="4x8")


class FromAValue(keras.layers.Layer):
    def build(self, input_shape):
        self.offset = keras.Variable(np.ones(input_shape[-1], dtype="float32"), name="offset")

    def call(self, x):
        return x + self.offset


def test_from_a_value(reuse_benchmark):
    reuse_benchmark(make_layer=FromAValue, make_inputs=lambda: tf.ones((4, 8)))
'''


def _run(folder: Path, *command: str | Path) -> subprocess.CompletedProcess:
    result = subprocess.run([str(part) for part in command], cwd=folder, capture_output=True, text=True)
    assert result.returncode == 0, f"{command}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _report_rows(folder: Path, results: Path) -> pd.DataFrame:
    _run(folder, TFREUSE, "report", results, "-o", folder / "report")
    return pd.read_csv(folder / "report" / "results.csv")


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> Path:
    """A user's folder outside the repository, with their factories and tests."""
    folder = tmp_path_factory.mktemp("user_folder")
    (folder / "my_layers.py").write_text(USER_FACTORIES)
    (folder / "test_my_layers.py").write_text(USER_TESTS)
    return folder


@pytest.mark.parametrize("target, shape, extra, scenario", [
    ("my_layers:make_block", "4,6", ("--train", "--modes", "function"), "make_block"),
    ("keras.layers:Conv2D(4, kernel_size=(3, 3), padding='same')", "2,8,8,3", ("--modes", "function"), "conv2d"),
    ("keras.applications:MobileNetV3Small(input_shape=(32, 32, 3), weights=None, include_top=False)",
     "1,32,32,3", ("--modes", "eager"), "mobilenetv3small"),
], ids=["factory-train", "layer-tuple-kwarg", "application-model"])
def test_measure_prints_the_table_and_its_json_becomes_a_named_report(outside, target, shape, extra, scenario):
    output = outside / f"{scenario}.json"
    printed = _run(outside, TFREUSE, "measure", target, "--input-shape", shape, "--profile", "smoke",
                   *extra, "-o", output).stdout
    mode = extra[-1]
    for variant in VARIANTS:
        assert f"{variant:<15} {mode:<9} CPU:0" in printed
    assert "interval: within-process interval (the spread of one process's rounds" in printed
    rows = _report_rows(outside, output)
    assert set(rows["scenario"]) == {scenario}
    assert set(rows["variant"]) == VARIANTS and set(rows["outcome"]) == {"ok"}
    if "--train" in extra:
        assert rows.set_index("variant").loc["shared", "learning_retained"] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def user_run(outside) -> tuple[subprocess.CompletedProcess, dict]:
    result = _run(outside, sys.executable, "-m", "pytest", "test_my_layers.py", "-p", "no:cacheprovider",
                  "--tfreuse-profile", "smoke", "--tfreuse-modes", "function", "--benchmark-json", "out.json")
    return result, json.loads((outside / "out.json").read_text())


def test_a_tensor_made_at_import_time_leaves_the_pools_as_they_are_and_says_so(user_run):
    result, data = user_run
    assert result.stdout.count("ThreadSettingsNotApplied") == 1
    conditions = data["machine_info"]["tfreuse"]["conditions"]
    assert conditions["intra_op_threads"] == 0  # TensorFlow's default, as it started
    assert conditions["threads_not_applied"].startswith("intra_op_threads wanted ")


def test_each_parameter_of_a_user_test_is_a_scenario_of_its_own(outside, user_run):
    rows = _report_rows(outside, outside / "out.json")
    ok = rows[rows["outcome"] == "ok"]
    assert set(ok["scenario"]) == {"layer[dense]", "layer[lstm]", "layer[conv2d]", "my dense", "from_a_value"}
    per_scenario = ok.groupby("scenario")["variant"].apply(set)
    assert all(variants == VARIANTS for name, variants in per_scenario.items() if name != "from_a_value")
    assert set(rows.loc[rows["scenario"] == "my dense", "size"]) == {"4x8"}
    shared = ok[ok["variant"] == "shared"]
    assert list(shared["ratio"]) == pytest.approx([1.0] * len(shared))  # each against its own shared
    compared = _run(outside, TFREUSE, "compare", "out.json", "out.json").stdout
    for name in ("dense", "lstm", "conv2d"):
        assert compared.count(f"| test_layer[reinstantiated-function-CPU:0-default-{name}] |") == 1


def test_a_layer_that_cannot_be_redrawn_has_the_reason_in_its_row(outside, user_run):
    rows = _report_rows(outside, outside / "out.json")
    mine = rows[rows["scenario"] == "from_a_value"].set_index("variant")
    assert mine.loc["reinitialized", "outcome"] == "error"
    assert re.fullmatch(r"cannot re-draw weight 'from_a_value(_\d+)?/offset': it is not made from an "
                        r"initializer \(a value given directly\?\)", mine.loc["reinitialized", "error_message"])
    assert set(mine.drop(index="reinitialized")["outcome"]) == {"ok"}


def test_a_single_process_run_names_its_intervals_within_one_process(outside, user_run):
    printed = _run(outside, TFREUSE, "report", "out.json", "-o", outside / "single").stdout
    assert "intervals: within-process intervals, the spread of one process's rounds only" in printed
    header = (outside / "single" / "results.csv").read_text().splitlines()[0].split(",")
    assert {"ratio_within_process_low", "ratio_within_process_high"} <= set(header)
    assert "ratio_ci_low" not in header
    rows = pd.read_csv(outside / "single" / "results.csv")
    assert rows["ratio_interval95_over_processes_low"].isna().all()
    assert rows.loc[rows["variant"] != "shared", "ratio_within_process_low"].notna().any()
    page = (outside / "single" / "index.html").read_text()
    assert "within-process interval" in page and "95% CI" not in page


def test_bench_measures_a_users_tests_in_fresh_processes_and_reports_intervals_over_them(outside):
    printed = _run(outside, TFREUSE, "bench", "test_my_layers.py", "--processes", "2", "--profile", "smoke",
                   "-k", "named and function", "-o", "measured", "--report", "measured-report").stdout
    assert "tfreuse bench: process 1/2 (default order" in printed
    assert "tfreuse bench: process 2/2 (reversed order" in printed
    assert "time / reuse [95% interval over 2 processes])" in printed and "fix: mitigated" in printed
    (folder,) = (outside / "measured").iterdir()
    infos = [json.loads((folder / f"process-0{k}.json").read_text())["machine_info"]["tfreuse"] for k in (1, 2)]
    assert [info["measurement"] for info in infos] == [
        {"id": folder.name, "process": k, "processes": 2} for k in (1, 2)]
    if hasattr(os, "sched_setaffinity"):
        assert all(len(info["conditions"]["cpu_affinity"]) == 1 for info in infos)
    rows = pd.read_csv(outside / "measured-report" / "results.csv")
    assert set(rows["processes"]) == {2} and set(rows["scenario"]) == {"my dense"}
    assert rows.loc[rows["variant"] != "shared", "ratio_interval95_over_processes_low"].notna().all()
    assert "95% interval over 2 processes" in (outside / "measured-report" / "index.html").read_text()


def test_measure_in_processes_writes_a_folder_and_prints_intervals_over_them(outside):
    result = _run(outside, TFREUSE, "measure", "keras.layers:Dense(4)", "--input-shape", "2,8", "--profile",
                  "smoke", "--modes", "function", "--processes", "2", "-o", "dense-processes")
    assert sorted(p.name for p in (outside / "dense-processes").glob("*.json")) == [
        "process-01.json", "process-02.json"]
    assert "interval: 95% interval over 2 processes" in result.stdout
    assert "tfreuse measure: process 2/2 (reversed order" in result.stderr


def test_pytest_on_a_users_file_ends_with_the_findings_table(outside, user_run):
    result, _ = user_run
    tail = result.stdout[result.stdout.index("- tfreuse -"):]
    lines = tail.splitlines()
    assert lines[1].startswith("tfreuse: what re-creation costs (each scenario's costliest re-creation, "
                               "then its fixes; time / reuse [within-process interval])")
    assert lines[2].split() == ["scenario", "variant", "mode", "size", "time", "/", "reuse", "traces/step",
                                "kept/step", "vars/step", "learning", "kept"]
    rows = [line for line in lines[3:] if line.startswith(("layer[", "my dense", "from_a_value", " "))]
    # Which variant is costliest, and whether a smoke case had the 2 rounds an interval needs, is
    # the machine's to say: the row's shape is not.
    assert any(re.match(r"layer\[lstm\] +\w+ +tf\.function +default +[0-9.]+x( \[[0-9.]+–[0-9.]+\])? +[0-9.]+ +"
                        r"[0-9.]+ KiB", line) for line in rows)
    assert any(line.split()[:2] == ["fix:", "mitigated"] for line in rows)
    assert any("from_a_value reinitialized (tf.function: NotRedrawable)" in line for line in lines)
    assert any(line.startswith("results: out.json (`tfreuse report out.json -o DIR` writes the report)")
               for line in lines)
    quiet = _run(outside, sys.executable, "-m", "pytest", "test_my_layers.py", "-p",
                 "no:cacheprovider", "--tfreuse-profile", "smoke", "--tfreuse-modes", "function", "-k", "named",
                 "--tfreuse-no-summary")
    assert "tfreuse: what re-creation costs" not in quiet.stdout
