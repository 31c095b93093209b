"""The busy-machine check: CPU time other processes used while a run measured, with a real busy loop."""

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tfreuse.busy import BUSY_CORES, BusyWatch, verdict

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


def test_this_process_s_own_work_is_not_counted_as_other():
    watch = BusyWatch()
    end = time.process_time() + 1.0
    while time.process_time() < end:
        pass
    figures = watch.figures()
    # this process used about a core; what is left is other processes' (none of them a busy loop here)
    assert figures["other_cpu_seconds"] < figures["seconds"] * 0.9, figures
    assert set(figures) >= {"busy", "why", "other_cores", "steal_seconds", "load_average_start", "load_average_end"}


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
