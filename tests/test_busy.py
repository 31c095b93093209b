"""The busy-machine check: CPU time other processes used while a run measured, with a real busy loop."""

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tfreuse.commands import selfcheck
from tfreuse.core.busy import BUSY_CORES, BusyWatch, verdict
from tfreuse.report.load import load
from tfreuse.report.output import write_report

from tests.report_helpers import derived_run
from tests.toys import TOY_BENCHMARK

TFREUSE = Path(sys.executable).with_name("tfreuse")
LOOP = "import time\nend = time.time() + 600\nwhile time.time() < end: pass"


@pytest.fixture
def busy_loop():
    """A CPU-bound process beside the test, not its child (a shell starts it and exits, so it is
    nobody's in this process tree, as another user's job would be); stopped at the end."""
    started = subprocess.run(["sh", "-c", f'"{sys.executable}" -c "$0" >/dev/null 2>&1 & echo $!', LOOP],
                             capture_output=True, text=True, check=True)
    loop = psutil.Process(int(started.stdout))
    time.sleep(0.3)
    yield loop
    loop.kill()


def test_a_busy_loop_beside_the_run_makes_it_busy(busy_loop):
    watch = BusyWatch()
    time.sleep(1.5)
    figures = watch.figures()
    assert figures["other_cores"] > BUSY_CORES, figures
    assert figures["busy"] is True and "other processes used" in figures["why"]
    assert verdict(figures).endswith("its timings are unreliable")


def test_this_process_s_own_work_is_counted_as_its_own_not_as_other():
    from tfreuse.core import busy

    watch, before = BusyWatch(), busy._own_cpu()
    end = time.process_time() + 1.0
    while time.process_time() < end:
        pass
    assert busy._own_cpu() - before >= 0.95  # what is subtracted from the machine's CPU time
    assert set(watch.figures()) >= {"busy", "why", "other_cores", "steal_seconds", "load_average_start",
                                    "load_average_end"}


def test_a_quiet_or_unrecorded_run_has_no_verdict():
    assert verdict(None) is None and verdict({"busy": False}) is None


@pytest.mark.slow
def test_tfreuse_bench_says_the_machine_was_busy(tmp_path, busy_loop):
    (tmp_path / "test_tiny.py").write_text(TOY_BENCHMARK)
    result = subprocess.run([str(TFREUSE), "bench", "test_tiny.py", "--processes", "1", "--profile", "smoke",
                             "-o", "runs", "--report", "report"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "tfreuse bench: warning: process 1/1: the machine was busy (other processes used" in result.stdout
    assert "its timings are unreliable" in result.stdout
    assert "Timings unreliable: the machine was busy" in (tmp_path / "report" / "index.html").read_text()
    assert "**warning: timings unreliable**" in (tmp_path / "report" / "summary.md").read_text()


def _busy_run(folder: Path, name: str, busy: bool) -> Path:
    path = derived_run(folder, name)
    data = json.loads(path.read_text())
    data["machine_info"]["tfreuse"]["busy"] = {"busy": busy, "why": "other processes used 0.97 of a core on average"
                                               if busy else None, "load_average_end": [1.9, 1.2, 0.8]}
    path.write_text(json.dumps(data))
    return path


def test_a_busy_run_is_said_at_the_top_of_the_report_and_its_summary(tmp_path):
    loaded = load([_busy_run(tmp_path, "busy.json", True)])
    assert loaded.busy == [f"{tmp_path / 'busy.json'}: the machine was busy (other processes used 0.97 of a core "
                           "on average; load average 1.90): its timings are unreliable"]
    written = write_report(loaded, tmp_path / "report")
    html = written["html"].read_text()
    assert html.index("Timings unreliable: the machine was busy") < html.index("In short")
    assert written["summary"].read_text().splitlines()[2].startswith("> **warning: timings unreliable**: ")
    quiet = load([_busy_run(tmp_path, "quiet.json", False)])
    assert quiet.busy == [] and "Timings unreliable" not in write_report(quiet, tmp_path / "q")["html"].read_text()


def test_the_selfcheck_judges_nothing_timed_on_a_busy_machine_unless_allowed(tmp_path):
    _busy_run(tmp_path, "quiet.json", False)
    (tmp_path / "aa").mkdir()
    _busy_run(tmp_path / "aa", "process-01.json", True)
    check = selfcheck.quiet_check(tmp_path, allow_busy=False)
    assert not check.passed and check.measured.startswith("1 of 2 run(s) busy; first: aa/process-01.json: ")
    assert selfcheck.quiet_check(tmp_path, allow_busy=True).passed


def test_a_calibration_is_refused_while_a_busy_loop_runs(busy_loop, tmp_path):
    from tfreuse.core.busy import busy_now

    said = busy_now(1.0)
    assert said is not None and said.startswith("the machine is busy (other processes used ")


@pytest.mark.slow
def test_tfreuse_selfcheck_refuses_a_busy_machine_in_one_line(tmp_path, busy_loop):
    (tmp_path / "suite").mkdir()
    result = subprocess.run([str(TFREUSE), "selfcheck", "--benchmarks", "suite", "-o", "out"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("tfreuse selfcheck: error: the machine is busy (other processes used ")
    assert line.endswith("the self-check's timing checks need a quiet machine (--allow-busy to run anyway)")
    assert not (tmp_path / "out").exists()
