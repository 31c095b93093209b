"""`tfreuse bench`: one measurement as K fresh pytest processes, so every interval spans processes.

The rounds of one process are taken at one moment, and the spread between processes and moments
is several times larger than the spread between rounds (docs/methodology.md, "Intervals"). So a
measurement runs the whole suite K times, each in a fresh process, one after the other: a
scenario's K processes lie minutes apart, never side by side, and whatever slows the machine for
a while lands on one of them, not on all. Every other process runs the benchmarks in reversed
order, so no figure leans on what ran before it. The first process measures every figure; the
others are timing-only (`--tfreuse-timing-only`: no memory window, learning runs or overhead
check, figures that do not vary between processes). Each process is pinned to one core (the last
one this process may use) where the system allows it: the step's thread and TensorFlow's worker
then share that core instead of landing on the same or on different cores from case to case.
The report merges the K JSON files (`tfreuse.report.analyze.merge_processes`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tfreuse.core.busy import of_results
from tfreuse.core.devices import child_environment
from tfreuse.core.errors import UserInputError

DEFAULT_PROCESSES = 4
ORDERS = ("default", "reversed")


def pinned_core() -> int | None:
    """The core a pinned process gets: the last one this process may use; None where the system
    cannot pin (no `os.sched_setaffinity`: macOS, Windows)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    return max(os.sched_getaffinity(0))


def pin_to(core: int | None) -> Callable[[], None] | None:
    """A `preexec_fn` that pins a child process to `core` (None: no pinning)."""
    if core is None:
        return None
    return lambda: os.sched_setaffinity(0, {core})


@dataclass
class ProcessRun:
    """One of the K processes: its place, order, JSON, wall seconds and pytest's exit status."""

    process: int
    order: str
    json_path: Path
    seconds: float
    status: int


def order_of(process: int) -> str:
    """Default order for odd processes (1, 3, ...), reversed for even ones."""
    return ORDERS[(process - 1) % 2]


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


# A line of pytest's verbose output for a finished test: its module and the share of tests done.
_DONE = re.compile(r"^(\S+?\.py)::\S+ (?:PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS)(?: \(.*\))?\s+\[\s*(\d+)%\]\s*$",
                   re.MULTILINE)


def whereabouts(log: Path) -> str | None:
    """Where a child pytest process has come to, from its verbose log: the scenario (module) of
    the last test it finished and its share of the cases, e.g. `attention, 42% of the cases`."""
    try:
        with open(log, "rb") as handle:
            handle.seek(max(0, handle.seek(0, 2) - 8192))
            tail = handle.read().decode("utf-8", "replace")
    except OSError:
        return None
    found = _DONE.findall(tail)
    if not found:
        return None
    module, percent = found[-1]
    return f"{Path(module).stem.removeprefix('test_')}, {percent}% of the cases"


@dataclass
class Child:
    """A verbose pytest process to run with its output in a log: what `run_children` starts."""

    command: Sequence[str]
    log_path: Path
    environment: dict
    cwd: Path | None = None
    preexec_fn: Callable[[], None] | None = None


def run_children(children: Sequence[Child], progress: Callable[[int, str], None],
                 progress_every: float = 20.0) -> list[int]:
    """Run `children` side by side, each with its output in its log; every `progress_every` seconds
    tell `progress` (the child's index, `whereabouts`) where each running one has come to.
    Returns their exit statuses; if this process is interrupted or terminated, they go too."""
    logs = [open(child.log_path, "w", encoding="utf-8") for child in children]
    started: list[subprocess.Popen] = []
    try:
        for child, log in zip(children, logs):
            started.append(subprocess.Popen(child.command, cwd=child.cwd, env=child.environment, stdout=log,
                                            stderr=subprocess.STDOUT, preexec_fn=child.preexec_fn))
        said = time.perf_counter()
        while any(process.poll() is None for process in started):
            time.sleep(0.5)
            if time.perf_counter() - said >= progress_every:
                said = time.perf_counter()
                for index, (child, process) in enumerate(zip(children, started)):
                    if process.poll() is None and (now := whereabouts(child.log_path)):
                        progress(index, now)
        return [process.returncode for process in started]
    except BaseException:  # as subprocess.run does: the children do not outlive this process
        for process in started:
            process.kill()
            process.wait()
        raise
    finally:
        for log in logs:
            log.close()


def run_logged(command: Sequence[str], log_path: Path, environment: dict, progress: Callable[[str], None],
               cwd: Path | None = None, preexec_fn: Callable[[], None] | None = None,
               progress_every: float = 20.0) -> int:
    """Run a verbose pytest `command` with its output in `log_path`; every `progress_every` seconds
    tell `progress` where it has come to (`whereabouts`). Returns its exit status."""
    child = Child(command, log_path, environment, cwd, preexec_fn)
    return run_children([child], lambda _index, now: progress(now), progress_every)[0]


def run_processes(targets: Sequence[str], folder: Path, processes: int, identity: str,
                  pytest_args: Sequence[str] = (), pin: bool = True, cwd: Path | None = None,
                  say: Callable[[str], None] = lambda line: print(line, flush=True),
                  name: str = "tfreuse bench", progress_every: float = 20.0) -> list[ProcessRun]:
    """Run `pytest targets` `processes` times in fresh processes, one after the other; each writes
    `folder/process-NN.json` (and its log beside it) as process K of N of measurement `identity`.

    A line as each process starts and ends (with the time left), and every `progress_every`
    seconds one saying which scenario it has come to: plain lines, so a CI log keeps them.
    """
    if processes < 1:
        raise UserInputError(f"--processes must be at least 1, not {processes}")
    core = pinned_core() if pin else None
    where = f", pinned to core {core}" if core is not None else (
        "" if not pin else ", not pinned: this system cannot pin a process to a core")
    runs: list[ProcessRun] = []
    for process in range(1, processes + 1):
        order = order_of(process)
        json_path = folder / f"process-{process:02d}.json"
        command = [sys.executable, "-m", "pytest", *targets, "-v", "-p", "no:cacheprovider",
                   "--tfreuse-order", order, "--tfreuse-measurement", f"{identity}:{process}/{processes}",
                   "--benchmark-json", str(json_path), *pytest_args,
                   *(["--tfreuse-timing-only"] if process > 1 else [])]
        say(f"{name}: process {process}/{processes} ({order} order{where}) ...")
        started = time.perf_counter()
        status = run_logged(command, json_path.with_suffix(".log"), child_environment({"TF_CPP_MIN_LOG_LEVEL": "2"}),
                            lambda now, process=process: say(f"{name}: process {process}/{processes}: {now}"), cwd=cwd,
                            preexec_fn=pin_to(core), progress_every=progress_every)
        runs.append(ProcessRun(process, order, json_path, time.perf_counter() - started, status))
        mean = sum(r.seconds for r in runs) / len(runs)
        left = f"; about {_minutes(mean * (processes - process))} left" if process < processes else ""
        failed = "" if status == 0 else f" (pytest exit status {status}; see {json_path.with_suffix('.log')})"
        say(f"{name}: process {process}/{processes} done in {_minutes(runs[-1].seconds)}{failed}{left}")
        busy = of_results(json_path)
        if busy:
            say(f"{name}: warning: process {process}/{processes}: {busy}")
    return runs


def new_folder(output: Path) -> tuple[Path, str]:
    """A new `<output>/<UTC time>/` folder for one measurement, and that time as its identity."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = Path(output) / stamp
    try:
        folder.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise UserInputError(f"{folder} already exists; results are never overwritten") from None
    return folder, stamp


def check_request(benchmarks: Sequence[str], profile: str | None) -> None:
    """UserInputError, before any process starts, for an unknown profile or a missing target."""
    from tfreuse.core.profiles import resolve_profile

    try:
        resolve_profile(profile)
    except ValueError as exc:
        raise UserInputError(str(exc)) from None
    for target in benchmarks:
        if not Path(target.split("::")[0]).exists():
            raise UserInputError(f"{target}: no such benchmarks file or folder")


def run(benchmarks: Sequence[str], output: Path, processes: int = DEFAULT_PROCESSES,
        profile: str | None = None, pin: bool = True, keyword: str | None = None,
        pytest_args: Sequence[str] = ()) -> tuple[Path, list[ProcessRun]]:
    """Measure `benchmarks` in `processes` fresh processes; (the measurement's folder, its runs)."""
    check_request(benchmarks, profile)
    args = [*(["--tfreuse-profile", profile] if profile else []), *(["-k", keyword] if keyword else []),
            *pytest_args]
    folder, stamp = new_folder(output)
    return folder, run_processes(benchmarks, folder, processes, stamp, args, pin=pin)
