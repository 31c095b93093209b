"""Instructions per step, counted under valgrind's callgrind around a case's steady steps only.

A count of executed instructions does not depend on what else the machine runs, so a change in it
is a change of the code: it gates a speed change far smaller than wall time can show on a shared
runner (docs/methodology.md, "Instruction counts"). The process runs under
`valgrind --tool=callgrind --instr-atstart=no` (`valgrind_command`): nothing is counted while
TensorFlow imports, a case builds, traces and warms up. Around the counted steps a tiny C shim,
compiled on first use against valgrind's own headers and loaded with ctypes, issues callgrind's
client requests: instrumentation on, counters zeroed, the steps, instrumentation off, the counts
dumped to a file this module reads back at once. The idle spin of TensorFlow's thread pools
(`IDLE_SPIN`: how long a worker polls for work depends on the moment, not on the code) is left out.

Where the count cannot be taken (no valgrind, macOS and Windows; no C compiler; no headers) the
figure is null and `instructions_unavailable` says why.
"""

from __future__ import annotations

import ctypes
import gc
import os
import platform
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfreuse.core.schema import NOT_COUNTED

# The folder of this process's callgrind dumps and its compiled shim, set by `environment()`.
OUT_ENV = "TFREUSE_CALLGRIND_OUT"
# Steady steps counted per case: counts repeat to within 0.2% between fresh processes, so a few
# steps suffice; every case of every side counts the same number.
COUNTED_STEPS = 5
# Functions of TensorFlow's Eigen thread pools that run while a worker waits for work.
IDLE_SPIN = ("::MaybeGetTask(", "::WaitForWork(", "EventCount::CommitWait(", "::WorkerLoop(")

_SHIM_SOURCE = r"""
#include <valgrind/valgrind.h>
#include <valgrind/callgrind.h>
int tfreuse_on_valgrind(void) { return RUNNING_ON_VALGRIND; }
void tfreuse_start(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS; }
void tfreuse_stop(const char *name) { CALLGRIND_STOP_INSTRUMENTATION; CALLGRIND_DUMP_STATS_AT(name); }
"""


def valgrind_missing() -> str | None:
    """Why instructions cannot be counted on this machine, or None when valgrind is there."""
    if platform.system() != "Linux":
        return f"not counted: valgrind's callgrind is not available on {platform.system()}"
    if shutil.which("valgrind") is None:
        return "not counted: valgrind is not installed (e.g. `apt-get install valgrind`)"
    return None


def valgrind_command(out_folder: Path) -> list[str]:
    """The prefix that runs a command under callgrind with instrumentation off until asked.

    Address-space randomisation is turned off (`setarch -R`) where setarch exists: with it on,
    the XLA mode's counts vary ten times more between processes.
    """
    prefix = ["setarch", platform.machine(), "-R"] if shutil.which("setarch") else []
    return prefix + ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--compress-strings=no",
                     "--compress-pos=no", f"--callgrind-out-file={Path(out_folder) / 'callgrind.%p'}"]


def environment(out_folder: Path) -> dict[str, str]:
    """Environment of a counting process: fixed hash seed, one thread per pool (valgrind runs one
    thread at a time anyway), and where the dumps go."""
    return {"PYTHONHASHSEED": "0", "TFREUSE_INTRA_OP_THREADS": "1", "TFREUSE_INTER_OP_THREADS": "1",
            OUT_ENV: str(Path(out_folder).resolve())}


def self_costs(path: Path) -> tuple[Counter, int | None]:
    """Instructions by function (each function's own, without its callees) in one callgrind dump,
    and the dump's `totals:` line. Needs `--compress-strings=no --compress-pos=no`."""
    costs: Counter = Counter()
    function, after_call, total = None, False, None
    with open(path, encoding="utf-8", errors="replace") as dump:
        for line in dump:
            if after_call:  # the line after `calls=` is the call's inclusive cost, not the caller's own
                after_call = False
            elif line.startswith("fn="):
                function = line[3:].rstrip("\n")
            elif line.startswith("calls="):
                after_call = True
            elif line.startswith("totals:"):
                total = int(line.split()[1])
            elif function is not None and (line[:1].isdigit() or line[:1] in "+-*"):
                fields = line.split()
                if len(fields) >= 2:
                    costs[function] += int(fields[1])
    return costs, total


def counted_instructions(path: Path) -> int:
    """Instructions in one dump, without the thread pools' idle spin (`IDLE_SPIN`)."""
    costs, _total = self_costs(path)
    return sum(cost for function, cost in costs.items() if not any(spin in function for spin in IDLE_SPIN))


class _Shim:
    """The compiled client requests, once per process; `unavailable` says why not, if not."""

    library: Any = None
    unavailable: str | None = None
    loaded = False

    @classmethod
    def load(cls) -> None:
        if cls.loaded:
            return
        cls.loaded = True
        out = os.environ.get(OUT_ENV)
        if not out:
            cls.unavailable = NOT_COUNTED
            return
        compiler = shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            cls.unavailable = "not counted: no C compiler (cc) to build the callgrind client requests"
            return
        source, library = Path(out) / "tfreuse_callgrind.c", Path(out) / f"tfreuse_callgrind.{os.getpid()}.so"
        source.write_text(_SHIM_SOURCE, encoding="utf-8")
        built = subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", str(library), str(source)],
                               capture_output=True, text=True)
        if built.returncode != 0:
            said = (built.stderr.strip().splitlines() or ["failed"])[0]
            cls.unavailable = f"not counted: the callgrind client requests did not compile ({said})"
            return
        cls.library = ctypes.CDLL(str(library))
        cls.library.tfreuse_stop.argtypes = [ctypes.c_char_p]
        if not cls.library.tfreuse_on_valgrind():
            cls.unavailable = f"not counted: {OUT_ENV} is set but this process is not running under valgrind"


def _newest_dump(out: Path) -> Path:
    parts = list(out.glob(f"callgrind.{os.getpid()}.*"))
    return max(parts, key=lambda part: int(part.suffix.lstrip(".") or 0))


def count(step: Callable[[], Any], steps: int = COUNTED_STEPS, name: str = "case") -> dict:
    """Run `steps` steady steps with callgrind counting; the record's instruction figures.

    The garbage collector is off while counting (collected just before), so a collection that
    an allocation count happens to trigger in one side's steps and not the other's is not counted.
    """
    _Shim.load()
    if _Shim.unavailable:
        return {"instructions_per_step": None, "instruction_steps": 0,
                "instructions_unavailable": _Shim.unavailable}
    gc.collect()
    gc.disable()
    try:
        _Shim.library.tfreuse_start()
        for _ in range(steps):
            step()
        _Shim.library.tfreuse_stop(name.encode())
    finally:
        gc.enable()
    dump = _newest_dump(Path(os.environ[OUT_ENV]))
    instructions = counted_instructions(dump)
    dump.unlink()
    return {"instructions_per_step": instructions / steps, "instruction_steps": steps,
            "instructions_unavailable": None}
