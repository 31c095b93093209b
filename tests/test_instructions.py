"""Instructions per step: the callgrind dump parser, what is counted, and counting under a real valgrind."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tfreuse.commands import counting
from tfreuse.core import schema
from tfreuse.engine.harness import counts_instructions
from tfreuse.probes import instructions
from tfreuse.report.compare import compare_instructions, instruction_markdown

TFREUSE = Path(sys.executable).with_name("tfreuse")
DUMP = """# callgrind format
version: 1
positions: line
events: Ir
summary: 0

ob=/lib/python
fl=???
fn=_PyEval_EvalFrameDefault
0 700
cfn=Eigen::ThreadPoolTempl<tsl::thread::EigenEnvironment>::MaybeGetTask(tsl::thread::EigenEnvironment::Task*)
calls=3 0
0 5000
fn=Eigen::ThreadPoolTempl<tsl::thread::EigenEnvironment>::MaybeGetTask(tsl::thread::EigenEnvironment::Task*)
0 5000
fn=_PyEval_EvalFrameDefault
0 300
fn=malloc
0 40
0 2
totals: 6042
"""


def test_a_dump_is_read_as_each_function_s_own_instructions_without_the_idle_spin(tmp_path):
    dump = tmp_path / "callgrind.1.1"
    dump.write_text(DUMP)
    costs, total = instructions.self_costs(dump)
    assert costs["_PyEval_EvalFrameDefault"] == 1000  # the line after `calls=` is the callee's, not its own
    assert sum(costs.values()) == total == 6042
    assert instructions.counted_instructions(dump) == 1042


def test_the_reuse_baseline_and_the_fixes_are_counted_the_re_creating_variants_not():
    assert counts_instructions(None, "shared") and counts_instructions(None, "mitigated")
    assert counts_instructions(None, "mitigated_clear_session")
    assert not counts_instructions(None, "reinstantiated") and not counts_instructions(None, "reinitialized")


def test_which_variants_are_counted_follows_what_the_scenario_declares():
    from tfreuse import Scenario, Variant

    class Declared(Scenario):
        name = "declared"
        variants = {"shared": Variant.baseline("one"), "cached": Variant.fix("a cache"),
                    "mitigated_in_name_only": Variant("an anti-pattern")}

    assert [counts_instructions(Declared(), v) for v in Declared.variants] == [True, True, False]


def test_valgrind_starts_with_counting_off():
    command = instructions.valgrind_command(Path("/tmp/out"))
    assert "--instr-atstart=no" in command and "--tool=callgrind" in command
    assert command[command.index("valgrind") - 1] == "-R" or command[0] == "valgrind"


def _counted(base, head):
    keys = ("scenario", "variant", "mode", "size")
    return ([{"fullname": f"t::{name}", **dict(zip(keys, name.split("-"))), "instructions_per_step": count,
              "instructions_unavailable": None if count else "not counted: re-creates"} for name, count in side]
            for side in (base, head))


def test_the_instruction_gate_flags_growth_beyond_its_threshold_only():
    base, head = _counted([("s-shared-function-small", 1000.0), ("s-mitigated-function-small", 1000.0),
                           ("s-mitigated_x-function-small", None), ("s-shared-eager-small", 1000.0)],
                          [("s-shared-function-small", 1021.0), ("s-mitigated-function-small", 1019.0),
                           ("s-mitigated_x-function-small", None), ("s-shared-jit-small", 5.0)])
    comparison = compare_instructions(base, head, threshold=0.02)
    verdicts = dict(zip(comparison.table["benchmark"], comparison.table["verdict"]))
    assert verdicts == {"s-shared-function-small": "more instructions", "s-mitigated-function-small": "~",
                        "s-mitigated_x-function-small": "not counted"}
    assert list(comparison.regressions["benchmark"]) == ["s-shared-function-small"]
    assert comparison.warnings == ["1 base and 1 head counted case(s) have no counterpart; left out"]
    text = instruction_markdown(comparison)
    assert "| s-shared-function-small | 1,000 | 1,021 | +2.10% | **more instructions** |" in text
    assert "1 case(s) not counted" in text


USER_TEST = '''
import keras
import tensorflow as tf


def test_dense(reuse_benchmark):
    reuse_benchmark(make_layer=lambda: keras.layers.Dense(8), make_inputs=lambda: tf.ones((4, 8)))
'''


@pytest.mark.slow
def test_outside_valgrind_the_figure_is_null_with_the_reason(tmp_path):
    (tmp_path / "test_mine.py").write_text(USER_TEST)
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--tfreuse-profile", "smoke",
                             "--tfreuse-instructions", "--tfreuse-modes", "eager", "--tfreuse-devices", "cpu",
                             "--benchmark-json", "out.json", "-q"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 deselected" in result.stdout  # reinstantiated and reinitialized
    rows = counting.counts(tmp_path / "out.json")
    assert sorted(row["variant"] for row in rows) == ["mitigated", "shared"]
    assert all(row["instructions_per_step"] is None and row["instructions_unavailable"] == instructions.NOT_COUNTED
               for row in rows)
    for bench in json.loads((tmp_path / "out.json").read_text())["benchmarks"]:
        schema.validate(bench["extra_info"])


@pytest.mark.slow
@pytest.mark.skipif(instructions.valgrind_missing() is not None, reason=str(instructions.valgrind_missing()))
def test_tfreuse_instructions_counts_a_user_s_layer_under_valgrind(tmp_path):
    (tmp_path / "test_mine.py").write_text(USER_TEST)
    result = subprocess.run([str(TFREUSE), "instructions", "test_mine.py", "--profile", "smoke", "-o", "out"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    [json_path] = (tmp_path / "out").glob("*/instructions.json")
    rows = {(row["variant"], row["mode"]): row["instructions_per_step"] for row in counting.counts(json_path)}
    assert set(rows) == {(v, m) for v in ("shared", "mitigated") for m in ("eager", "function")}
    assert all(count > 10_000 for count in rows.values()), rows
    # the same layer called the same way: its fix and its baseline execute about as much
    for mode in ("eager", "function"):
        assert rows[("mitigated", mode)] == pytest.approx(rows[("shared", mode)], rel=0.1)
    assert "dense                    shared" in result.stdout and "instructions/step" in result.stdout


def test_instructions_refuses_a_missing_folder_in_one_line(tmp_path):
    result = subprocess.run([str(TFREUSE), "instructions", "nowhere"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == "tfreuse instructions: error: nowhere: no such benchmarks file or folder"
