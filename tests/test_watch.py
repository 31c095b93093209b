"""As a user runs them, from a folder outside the repository: `tfreuse watch` on a script, and the
`reuse_guard` fixture in the user's own pytest, on a step that passes `step / 10` to a tf.function
and builds a Dense layer inside the step; then on the fixed step."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every test runs `tfreuse watch` or pytest on a script in a subprocess

TFREUSE = str(Path(sys.executable).with_name("tfreuse"))

BROKEN_STEP = '''
import keras
import tensorflow as tf

x = tf.random.normal((32, 16))


@tf.function
def scale(x, factor):
    return x * factor


def train_step(step):
    hidden = keras.layers.Dense(8, activation="relu")(x)
    return scale(hidden, step / 10)
'''
DENSE_LINE = 13  # the line of `keras.layers.Dense(8, ...)` above

FIXED_STEP = '''
import keras
import tensorflow as tf

x = tf.random.normal((32, 16))
dense = keras.layers.Dense(8, activation="relu")


@tf.function
def scale(x, factor):
    return x * factor


def train_step(step):
    hidden = dense(x)
    return scale(hidden, tf.constant(step / 10))
'''

SCRIPT = '''
import sys

from user_step import train_step

for step in range(5):
    train_step(step)
print("trained")
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
'''

USER_TEST = '''
from user_step import train_step


def test_train_step_reuses_its_state(reuse_guard):
    for step in range(4):
        with reuse_guard.step():
            train_step(step)
'''


@pytest.fixture
def user_folder(tmp_path):
    """A user's project: the step, a script running it, a test of it; no tfreuse file in it."""
    (tmp_path / "user_step.py").write_text(BROKEN_STEP.lstrip("\n"))
    (tmp_path / "train.py").write_text(SCRIPT.lstrip("\n"))
    (tmp_path / "test_user_step.py").write_text(USER_TEST.lstrip("\n"))
    assert BROKEN_STEP.lstrip("\n").splitlines()[DENSE_LINE - 1].strip().startswith("hidden = keras.layers.Dense(")
    return tmp_path


def _run(folder: Path, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(command), cwd=folder, capture_output=True, text=True, timeout=600)


def _summary(result: subprocess.CompletedProcess) -> str:
    return result.stderr[result.stderr.index("tfreuse watch:"):]


def test_watch_names_the_float_argument_and_the_dense_line(user_folder):
    result = _run(user_folder, TFREUSE, "watch", "--", "python", "train.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "trained"  # the script's own output, unchanged
    summary = _summary(result)
    assert "`scale` (user_step.py:7): 5 trace(s), 4 retrace(s)" in summary
    assert "`factor` (Python float) changed 4 time(s): 0.0 -> 0.1 -> 0.2 -> 0.3 -> 0.4" in summary
    assert (f"user_step.py:{DENSE_LINE} in train_step (Dense constructed here): "
            "hidden = keras.layers.Dense(8, activation=\"relu\")(x)") in summary
    assert "built at" not in summary  # constructed and built on one line
    assert "4 x dense_1/kernel (16, 8) float32 of layer dense_1 (Dense)" in summary
    assert "findings: 12" in summary


def test_watch_keeps_the_scripts_exit_status_unless_asked_to_fail(user_folder):
    assert _run(user_folder, TFREUSE, "watch", "--", "python", "train.py", "5").returncode == 5
    assert _run(user_folder, TFREUSE, "watch", "--fail-on-findings", "--", "python", "train.py").returncode == 3


def test_watch_of_the_fixed_step_finds_nothing(user_folder):
    (user_folder / "user_step.py").write_text(FIXED_STEP.lstrip("\n"))
    result = _run(user_folder, sys.executable, "-m", "tfreuse.tools.watch", "--fail-on-findings", "--", "train.py")
    assert result.returncode == 0, result.stderr
    summary = _summary(result)
    assert "`scale` (user_step.py:8): 1 trace(s)\n" in summary
    assert "findings: 0 (nothing re-created)" in summary


def test_watch_refuses_a_missing_script_in_one_line(user_folder):
    result = _run(user_folder, TFREUSE, "watch", "--", "python", "nowhere.py")
    assert (result.returncode, result.stderr) == (2, "tfreuse watch: error: no script at nowhere.py\n")


def test_the_users_guarded_test_fails_with_both_findings_then_passes_once_fixed(user_folder):
    result = _run(user_folder, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q")
    assert result.returncode == 1, result.stdout
    assert "ReuseError: tfreuse guard: steady-state steps re-created what they should reuse" in result.stdout
    assert "step 2: 2 new tf.Variable(s)" in result.stdout
    assert "dense_1/kernel (16, 8) float32 of layer dense_1 (Dense)" in result.stdout
    assert (f"made at {user_folder.resolve() / 'user_step.py'}:{DENSE_LINE} in train_step (Dense constructed here): "
            "hidden = keras.layers.Dense(8, activation=\"relu\")(x)") in result.stdout
    assert "`factor`: Python float 0.0 -> 0.1" in result.stdout

    (user_folder / "user_step.py").write_text(FIXED_STEP.lstrip("\n"))
    fixed = _run(user_folder, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q")
    assert fixed.returncode == 0, fixed.stdout
    assert "1 passed" in fixed.stdout


def test_the_marker_sets_the_fixtures_limits(user_folder):
    (user_folder / "test_user_step.py").write_text(textwrap.dedent('''
        import pytest
        from user_step import train_step


        @pytest.mark.reuse_guard(warmup_steps=1, max_traces=1, max_new_variables=2)
        def test_tolerated(reuse_guard):
            for step in range(3):
                with reuse_guard.step():
                    train_step(step)


        @pytest.mark.reuse_guard(max_traces="many")
        def test_bad_limit(reuse_guard):
            pass
    '''))
    result = _run(user_folder, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                  "test_user_step.py::test_tolerated")
    assert result.returncode == 0, result.stdout
    bad = _run(user_folder, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
               "test_user_step.py::test_bad_limit")
    assert bad.returncode != 0
    assert "@pytest.mark.reuse_guard on test_user_step.py::test_bad_limit: ReuseGuard: max_traces " \
           "must be a whole number >= 0, not 'many'" in bad.stdout + bad.stderr


MADE_THEN_USED = '''
import keras
import tensorflow as tf

x = tf.ones((4, 3))
weight = tf.Variable(tf.ones((3, 2)))


def double(v):
    return 2 * v


for step in range(3):
    head = keras.layers.Dense(2)
    head(x)
    model = keras.Sequential([keras.layers.Dense(2)])
    model(x)
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    optimizer.apply_gradients([(tf.ones((3, 2)), weight)])
    mean = keras.metrics.Mean()
    mean.update_state(x)
    doubled = tf.function(double)
    doubled(x)
print("trained")
'''


def test_watch_names_where_each_object_was_constructed_and_where_it_was_built(tmp_path):
    """A layer, a model, an optimizer, a metric and a tf.function made on one line of a loop and
    used on the next: each finding's line is the construction, with the build (or call) under it."""
    script = MADE_THEN_USED.lstrip("\n")
    (tmp_path / "made_then_used.py").write_text(script)
    lines = script.splitlines()

    def at(start: str) -> str:
        number = next(n for n, line in enumerate(lines, 1) if line.strip().startswith(start))
        return f"made_then_used.py:{number} in <module>"

    result = _run(tmp_path, TFREUSE, "watch", "--", "python", "made_then_used.py")
    assert result.returncode == 0, result.stderr
    summary = _summary(result)
    assert (f"  {at('head =')} (Dense constructed here): head = keras.layers.Dense(2)\n"
            f"    built at {at('head(x)')}: head(x)\n"
            "      2 x dense_2/kernel (3, 2) float32 of layer dense_2 (Dense)\n") in summary
    assert (f"  {at('model =')} (Dense constructed here): model = keras.Sequential([keras.layers.Dense(2)])\n"
            f"    built at {at('model(x)')}: model(x)\n") in summary
    assert (f"  {at('optimizer =')} (SGD constructed here): optimizer = keras.optimizers.SGD(0.1, momentum=0.9)\n"
            "    2 x sgd_1/iteration () int64 of optimizer sgd_1 (SGD)\n") in summary
    assert (f"    built at {at('optimizer.apply')}: optimizer.apply_gradients([(tf.ones((3, 2)), weight)])\n"
            "      2 x sgd_1/Variable_0_momentum (3, 2) float32 of optimizer sgd_1 (SGD)\n") in summary
    assert (f"  {at('mean =')} (Mean constructed here): mean = keras.metrics.Mean()\n"
            "    2 x mean/total () float32 of metric mean (Mean)\n") in summary
    made, called = at("doubled =").split(" in ")[0], at("doubled(x)").split(" in ")[0]
    assert (f"    a new tf.function is made each time (made at {made}, first called at {called}): "
            "create it once, outside the loop") in summary
    assert "findings: 20" in summary


def test_the_summary_says_what_the_script_left_open():
    from tfreuse.probes.resources import Held
    from tfreuse.tools.watch import summary

    before = Held({0: "/dev/null", 3: "pipe:[1]"}, 2, 10, frozenset({"MainThread"}))
    after = Held({0: "/dev/null", 3: "pipe:[1]", 7: "/logs/events.out.tfevents.1"}, 3, 12,
                 frozenset({"MainThread", "writer"}))
    text, findings = summary("train.py", 0, [], [], None, None, before, after)
    assert "left open at exit: +1 file descriptor(s) against before the script\n  /logs/events.out.tfevents.1" in text
    assert "threads at exit: +2 against before the script (Python: writer)" in text
    assert findings == 0  # what a script holds at exit is said, not judged
