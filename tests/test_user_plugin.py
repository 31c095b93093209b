"""tfreuse from outside: the pytest11 plugin in another project, and `tfreuse measure`."""

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tfreuse.commands.cli import main
from tfreuse.commands.measure import MeasureError, parse_target
from tfreuse.core import schema
from tfreuse.core.devices import visible_devices

USER_PROJECT_TEST = '''
import keras
import tensorflow as tf


class ResidualBlock(keras.layers.Layer):
    """The user's own layer: x + Dense(relu(Dense(x)))."""

    def __init__(self, width, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.inner = keras.layers.Dense(width, activation="relu")
        self.outer = keras.layers.Dense(width)

    def call(self, x):
        return x + self.outer(self.inner(x))

    def get_config(self):
        return {**super().get_config(), "width": self.width}


def test_residual_block(reuse_benchmark):
    record = reuse_benchmark(make_layer=lambda: ResidualBlock(16),
                             make_inputs=lambda: tf.random.normal((8, 16)))
    assert record["scenario"] == "residual_block"


def test_residual_block_training(reuse_benchmark):
    reuse_benchmark(make_layer=lambda: ResidualBlock(16),
                    make_inputs=lambda: tf.random.normal((8, 16)),
                    loss=lambda y: tf.reduce_mean(tf.square(y)))


def test_plain(benchmark):
    benchmark(sum, range(10))
'''


def _pytest(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=folder, capture_output=True, text=True)


@pytest.fixture(scope="module")
def user_project(tmp_path_factory):
    """A project outside the repository, with no conftest, using tfreuse only as installed."""
    folder = tmp_path_factory.mktemp("user_project")
    (folder / "test_my_layer.py").write_text(USER_PROJECT_TEST)
    result = _pytest(folder, "--tfreuse-profile", "smoke", "--benchmark-json", "out.json", "-q")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return folder, json.loads((folder / "out.json").read_text())


@pytest.mark.slow
def test_fixture_measures_every_variant_in_each_mode(user_project):
    _, data = user_project
    tfreuse_rows = [b for b in data["benchmarks"] if b["extra_info"]]
    ids = sorted(b["name"] for b in tfreuse_rows if b["name"].startswith("test_residual_block["))
    assert ids == sorted(f"test_residual_block[{v}-{m}-{device}-default]" for m in ("eager", "function")
                         for v in ("shared", "reinstantiated", "reinitialized", "mitigated")
                         for device in visible_devices())
    for bench in tfreuse_rows:
        schema.validate(bench["extra_info"])


@pytest.mark.slow
def test_fixture_records_learning_with_a_loss(user_project):
    _, data = user_project
    for device in visible_devices():
        training = {b["extra_info"]["variant"] + "-" + b["extra_info"]["mode"]: b["extra_info"]
                    for b in data["benchmarks"] if b["name"].startswith("test_residual_block_training[")
                    and b["extra_info"]["device"] == device}
        assert training["shared-function"]["learning_retained"] == pytest.approx(1.0)
        assert training["reinstantiated-eager"]["learning_retained"] < 0.5
        assert training["reinstantiated-function"]["traces_per_step"] == 1.0
        assert all(record["learning_deterministic_ops"] is True for record in training.values())


@pytest.mark.slow
def test_the_json_becomes_a_report(user_project, tmp_path):
    folder, _ = user_project
    assert main(["report", str(folder / "out.json"), "-o", str(tmp_path)]) == 0
    assert "residual_block" in (tmp_path / "index.html").read_text()


@pytest.mark.slow
def test_plugin_leaves_other_suites_alone(tmp_path):
    (tmp_path / "test_other.py").write_text(textwrap.dedent('''
        import sys

        def test_nothing_of_tensorflow_is_loaded():
            assert "tensorflow" not in sys.modules
    '''))
    result = _pytest(tmp_path, "-q")
    assert result.returncode == 0, result.stdout
    assert "tfreuse" not in result.stdout
    assert "--tfreuse-devices" in _pytest(tmp_path, "--help").stdout


@pytest.mark.parametrize("target, parsed", [
    ("keras.layers:Dense(64)", ("keras.layers", "Dense", (64,), {})),
    ("pkg.mod:make", ("pkg.mod", "make", (), {})),
    ("pkg:Block(8, act='relu')", ("pkg", "Block", (8,), {"act": "relu"})),
])
def test_targets_are_parsed(target, parsed):
    assert parse_target(target) == parsed


@pytest.mark.parametrize("target, message", [
    ("keras.layers.Dense", "expected package.module:factory or package.module:Layer(args)"),
    ("m:", "expected package.module:factory or package.module:Layer(args)"),
    ("m:Dense(x)", "the part after ':' must be a name, or a call with literal arguments"),
    ("m:os.system('x')()", "the part after ':' must be a name, or a call with literal arguments"),
])
def test_bad_targets_are_refused(target, message):
    with pytest.raises(MeasureError, match=re.escape(f"{target!r}: {message}")):
        parse_target(target)


def test_measure_runs_on_keras_dense(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status = main(["measure", "keras.layers:Dense(8)", "--input-shape", "4,8", "--profile", "smoke",
                   "--modes", "function", "-o", str(tmp_path / "dense.json")])
    assert status == 0
    out = capsys.readouterr().out
    assert "reinstantiated  function  CPU:0" in out
    data = json.loads((tmp_path / "dense.json").read_text())
    assert {b["extra_info"]["variant"] for b in data["benchmarks"]} == {
        "shared", "reinstantiated", "reinitialized", "mitigated"}


@pytest.mark.slow
def test_measure_runs_on_a_user_layer_and_never_overwrites(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_layers.py").write_text(textwrap.dedent('''
        import keras

        def make_block():
            return keras.Sequential([keras.layers.Dense(8, activation="relu"), keras.layers.Dense(4)])

        def not_a_layer():
            return 42
    '''))
    monkeypatch.chdir(tmp_path)
    output = tmp_path / "mine.json"
    assert main(["measure", "my_layers:make_block", "--input-shape", "4,6", "--train",
                 "--profile", "smoke", "--modes", "eager", "-o", str(output)]) == 0
    assert main(["measure", "my_layers:make_block", "--input-shape", "4,6", "-o", str(output)]) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize("target, shape, message", [
    ("no_such_module:make", "4,8", "cannot import 'no_such_module:make': ModuleNotFoundError"),
    ("json:no_such_factory", "4,8", "cannot import 'json:no_such_factory': AttributeError"),
    ("keras.layers:Dense(8)", "4,x", "--input-shape '4,x': expected positive integers"),
    ("json:dumps", "4,8", "json:dumps() failed"),
    ("keras.layers:Conv2D(4, 3)", "4,8", "keras.layers:Conv2D(4, 3)() fails on input shape (4, 8)"),
])
def test_measure_errors_are_one_line_with_exit_2(target, shape, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["measure", target, "--input-shape", shape, "-o", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_factory_returning_something_else_is_named(tmp_path, monkeypatch, capsys):
    (tmp_path / "odd.py").write_text("def make():\n    return 42\n")
    monkeypatch.chdir(tmp_path)
    assert main(["measure", "odd:make", "--input-shape", "2,2", "-o", str(tmp_path / "x.json")]) == 2
    assert "odd:make() returned a int, not a Keras layer or model" in capsys.readouterr().err
