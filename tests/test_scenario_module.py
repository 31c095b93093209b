"""Adding a scenario is one new module: a toy module in a folder of its own declares its roles and
phrases, runs under pytest, and its words reach the report's headlines and the scenarios page
(installed commands in fresh processes, smoke profile: nothing here is a timing run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TFREUSE = Path(sys.executable).with_name("tfreuse")

TOY_MODULE = '''
"""Toy: a small variable added to a tensor, kept or made anew."""

import tensorflow as tf

from tfreuse import Scenario, Variant, benchmark_test


class Toy(Scenario):
    name = "toy_scenario"
    variants = {
        "shared": Variant.baseline("one toy variable kept for good"),
        "remade": "remaking the toy variable at every toy step",
        "mitigated_forgetful_cache": Variant.fix("a toy cache that forgets its function", restores=("traces",)),
        "mitigated_kept": Variant.fix("a toy variable kept in a toy cache", restores=("traces",)),
    }
    modes = ("function",)
    mode_phrases = {"function": "inside the toy function"}
    sizes = {"tiny": {"n": 4}}

    @staticmethod
    def _add(ctx):
        x = tf.ones(ctx.params["n"])
        return x, ctx.compile(lambda v, x: v + x)

    def shared(self, ctx):
        x, add = self._add(ctx)
        variable = tf.Variable(x)
        return lambda: add(variable, x)

    def remade(self, ctx):
        x, add = self._add(ctx)
        return lambda: add(tf.Variable(x), x)

    def mitigated_forgetful_cache(self, ctx):
        """Keeps the variable, but passes a new Python number every step: a retrace each time."""
        x, _ = self._add(ctx)
        variable = tf.Variable(x)
        add = ctx.compile(lambda v, x, step: v + x)
        steps = iter(range(10**9))
        return lambda: add(variable, x, next(steps))

    def mitigated_kept(self, ctx):
        return self.shared(ctx)


test_toy = benchmark_test(Toy())
'''


def _run(folder: Path, *command: str) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_a_new_scenario_module_speaks_in_its_own_words(tmp_path):
    (tmp_path / "test_toy.py").write_text(TOY_MODULE)
    _run(tmp_path, sys.executable, "-m", "pytest", "test_toy.py", "-q", "-p", "no:cacheprovider",
         "--tfreuse-profile", "smoke", "--benchmark-json", "toy.json")
    _run(tmp_path, str(TFREUSE), "report", "toy.json", "-o", "report")
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert "Remaking the toy variable at every toy step inside the toy function costs" in summary
    # The fix that retraces is named (it declared traces); the one that keeps its promise is not.
    assert "A toy cache that forgets its function inside the toy function still costs" in summary
    assert "a toy variable kept in a toy cache" not in summary.lower()

    _run(tmp_path, str(TFREUSE), "scenarios", "test_toy.py", "--markdown", "scenarios.md")
    page = (tmp_path / "scenarios.md").read_text()
    assert "### `toy_scenario` (`test_toy.py`)" in page
    assert "Toy: a small variable added to a tensor, kept or made anew." in page
    assert "| `shared` | baseline | one toy variable kept for good |  |" in page
    assert "| `remade` | anti-pattern | remaking the toy variable at every toy step |  |" in page
    assert "| `mitigated_kept` | fix | a toy variable kept in a toy cache | traces |" in page
    assert "tf.function (inside the toy function)" in page


def test_a_module_that_cannot_be_imported_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "test_broken.py").write_text("import no_such_module_here\n")
    result = subprocess.run([str(TFREUSE), "scenarios", "test_broken.py"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "tfreuse scenarios: error: test_broken.py: cannot be imported "
        "(ModuleNotFoundError: No module named 'no_such_module_here')"]
