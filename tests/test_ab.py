"""`tfreuse ab`: the ABBA order, the dependency check, and the command end to end on a toy repository."""

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tfreuse.commands import ab
from tfreuse.probes.instructions import valgrind_missing

from tests.toys import TOY_BENCHMARK

TFREUSE = Path(sys.executable).with_name("tfreuse")
# The toy's `shared` step, changed to pass a new Python number on every call: a retrace per step.
# The toy's `shared` step, doing twenty more ops: more instructions per step, in each mode.
MORE_WORK = TOY_BENCHMARK.replace(
    "f = ctx.compile(lambda t: t + 1)",
    "f = ctx.compile(lambda t: t + 1 + 0.0 * tf.math.reduce_sum([tf.tanh(t * i) for i in range(20)]))")
RETRACING = TOY_BENCHMARK.replace(
    "        f = ctx.compile(lambda t: t + 1)\n        return lambda: f(x)",
    "        f = ctx.compile(lambda t, i: t + i)\n        counter = iter(range(10**9))\n"
    "        return lambda: f(x, next(counter))")


def test_abba_order_alternates_which_side_goes_first():
    assert ab.abba_order(1) == ["base", "head"]
    assert ab.abba_order(3) == ["base", "head", "head", "base", "base", "head"]
    order = ab.abba_order(5)
    assert order.count("base") == order.count("head") == 5


def test_dependencies_compare_what_pyproject_asks_to_install(tmp_path):
    def project(dependencies, extras="[project.optional-dependencies]\ntest = ['pytest']\n"):
        path = tmp_path / f"{len(list(tmp_path.iterdir()))}.toml"
        path.write_text(f"[project]\nname = 'x'\ndependencies = {dependencies!r}\n{extras}")
        return ab.dependencies(path)

    assert project(["numpy>=1", "pandas"]) == project(["pandas", "numpy>=1"])
    assert project(["numpy>=1"]) != project(["numpy>=2"])
    assert project(["numpy"]) != project(["numpy"], extras="")
    assert ab.dependencies(tmp_path / "missing.toml") == ab.dependencies(tmp_path / "also-missing.toml")


def _git(repo, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                   capture_output=True)


@pytest.fixture
def toy_repo(tmp_path):
    """A git repository of one toy benchmark module, committed once."""
    repo = tmp_path / "toy"
    (repo / "benchmarks").mkdir(parents=True)
    (repo / "benchmarks" / "test_tiny.py").write_text(TOY_BENCHMARK)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "toy")
    return repo


def _ab(repo, *options, gates="wall"):
    return subprocess.run([str(TFREUSE), "ab", "--profile", "smoke", "-o", "out", "--gates", gates, *options],
                          cwd=repo, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_ab_of_a_commit_with_itself_runs_abba_and_passes(toy_repo):
    # A threshold no timing difference reaches: this checks the run, not the machine's noise.
    result = _ab(toy_repo, "--base", "HEAD", "--processes", "2", "--threshold", "100000")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "declare the same dependencies: one environment for both" in result.stdout
    # A slow process also says, in brackets, which scenario it has come to.
    pinned = r"(, pinned to core [0-9]+)?"
    assert re.search(rf"tfreuse ab: 1/4 base process 1{pinned} \.\.\. (\[[^]]*\] )*[0-9.]+ s; about [0-9.]+ min left",
                     result.stdout)
    assert re.search(rf"tfreuse ab: 4/4 base process 2{pinned} \.\.\. (\[[^]]*\] )*[0-9.]+ s\n", result.stdout)
    assert "same-job A/B, 2 and 2 process(es)): 0 regression(s)" in result.stdout
    folder = next((toy_repo / "out").iterdir())
    manifest = json.loads((folder / ab.MANIFEST).read_text())
    assert [run["side"] for run in manifest["runs"]] == ["base", "head", "head", "base"]
    assert manifest["same_environment"] and manifest["base_commit"] == manifest["head_commit"]
    assert manifest["head_dirty"] is False and "uncommitted changes" not in result.stdout
    assert sorted(p.name for p in (folder / "base").glob("*.json")) == ["process-01.json", "process-02.json"]
    assert (folder / "compare.md").read_text() in result.stdout
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=toy_repo, capture_output=True, text=True)
    assert len(worktrees.stdout.splitlines()) == 1  # the base's worktree is gone
    # The two folders, compared again by hand, are still one same-job A/B.
    again = subprocess.run([str(TFREUSE), "compare", str(folder / "base"), str(folder / "head"),
                            "--threshold", "100000"], capture_output=True, text=True)
    assert again.returncode == 0 and "(same-job A/B" in again.stdout


@pytest.mark.slow
def test_ab_flags_a_retrace_per_step_in_the_working_tree(toy_repo):
    (toy_repo / "benchmarks" / "test_tiny.py").write_text(RETRACING)  # uncommitted: the working tree
    result = _ab(toy_repo, "--base", "HEAD", "--processes", "1", "--threshold", "100000")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the working tree has uncommitted changes: the head side measures them" in result.stdout
    flagged = [line for line in result.stdout.splitlines() if "**more traces**" in line]
    assert len(flagged) == 1 and "test_tiny[shared-function-CPU:0-one]" in flagged[0]
    assert "| 0 → 1 |" in flagged[0]


@pytest.mark.slow
def test_a_terminated_ab_removes_its_base_worktree_and_its_pytest_child(toy_repo):
    def worktrees():
        listed = subprocess.run(["git", "worktree", "list"], cwd=toy_repo, capture_output=True, text=True)
        return listed.stdout.splitlines()

    command = subprocess.Popen([str(TFREUSE), "ab", "--profile", "smoke", "-o", "out", "--base", "HEAD",
                                "--processes", "2", "--gates", "wall"], cwd=toy_repo, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(worktrees()) < 2 and command.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(worktrees()) == 2, "the base worktree never appeared"
    def command_line(child: psutil.Process) -> str:
        try:
            return " ".join(child.cmdline())
        except psutil.Error:  # a child that has just ended (a git call) may be a zombie for a moment
            return ""

    pytest_child = None
    while pytest_child is None and time.monotonic() < deadline:
        pytest_child = next((child for child in psutil.Process(command.pid).children(recursive=True)
                             if "pytest" in command_line(child)), None)
        time.sleep(0.05)
    command.send_signal(signal.SIGTERM)
    assert command.wait(timeout=60) == 128 + signal.SIGTERM
    assert len(worktrees()) == 1  # the base's worktree is gone
    assert pytest_child is not None and not pytest_child.is_running()


@pytest.mark.slow
def test_ab_names_a_bad_base_and_exits_2(toy_repo):
    result = _ab(toy_repo, "--base", "no-such-ref")
    assert result.returncode == 2
    assert result.stderr.strip() == f"tfreuse ab: error: --base 'no-such-ref' is not a commit of {toy_repo}"
    assert not (toy_repo / "out").exists()


def test_every_process_is_a_child_that_asks_for_gpu_memory_growth(tmp_path, monkeypatch):
    from tfreuse.commands import bench

    seen: dict = {}
    monkeypatch.delenv("TF_FORCE_GPU_ALLOW_GROWTH", raising=False)
    monkeypatch.setattr(bench, "run_logged",
                        lambda command, log, environment, *args, **kwargs: seen.update(environment) or 0)
    checkout = ab.Checkout(name="head", tree=tmp_path, python=sys.executable, commit="0" * 40)
    ab.run_process(checkout, "benchmarks", "smoke", tmp_path / "one.json")
    assert seen["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" and seen["PYTHONPATH"].startswith(str(tmp_path / "src"))


@pytest.mark.slow
@pytest.mark.skipif(valgrind_missing() is not None, reason=str(valgrind_missing()))
def test_ab_counts_both_sides_instructions_and_flags_a_step_that_executes_more(toy_repo):
    (toy_repo / "benchmarks" / "test_tiny.py").write_text(MORE_WORK)  # uncommitted: the working tree
    result = _ab(toy_repo, "--base", "HEAD", gates="instructions")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    assert "counting instructions per step of the reuse cases, base and head side by side" in result.stdout
    assert "## Instructions per step (callgrind): 2 regression(s)" in result.stdout
    flagged = [line for line in result.stdout.splitlines() if "**more instructions**" in line]
    assert sorted(line.split(" | ")[0] for line in flagged) == [
        "| test_tiny[shared-eager-CPU:0-one]", "| test_tiny[shared-function-CPU:0-one]"]
    folder = next((toy_repo / "out").iterdir())
    manifest = json.loads((folder / ab.MANIFEST).read_text())
    assert manifest["runs"] == [] and sorted(manifest["instructions"]["files"]) == ["base", "head"]


@pytest.mark.slow
def test_ab_says_the_machine_was_busy_when_a_busy_loop_runs_beside_it(toy_repo):
    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        result = _ab(toy_repo, "--base", "HEAD", "--processes", "1", "--threshold", "100000")
    finally:
        loop.kill()
        loop.wait()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r"tfreuse ab: warning: (base|head) process 1: the machine was busy \(other processes used",
                     result.stdout)
    assert "> timings unreliable: " in result.stdout
