"""`tfreuse instructions`: instructions per step of the reuse cases, from pytest run under valgrind.

One valgrind process measures many cases, so importing TensorFlow under valgrind (about 25 s) is
paid once. The process runs pytest with `--tfreuse-instructions`: the reuse cases only (`shared`
and the fixes), each built, traced and warmed up with counting off, then counted over a few
steady steps (`tfreuse.probes.instructions`). Counts do not depend on the machine's load, so
`tfreuse ab` runs its two sides' counting processes side by side.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tfreuse.core.devices import child_environment
from tfreuse.core.errors import UserInputError
from tfreuse.probes import instructions


@dataclass
class Counting:
    """One counting process: its name, Python, pytest targets, JSON and what else it needs."""

    name: str
    targets: Sequence[str]
    json_path: Path
    python: str = sys.executable
    cwd: Path | None = None
    pytest_args: Sequence[str] = ()
    environment: dict = field(default_factory=dict)


def command(counting: Counting, out_folder: Path) -> list[str]:
    """The valgrind command of one counting process."""
    return [*instructions.valgrind_command(out_folder), counting.python, "-m", "pytest", *counting.targets,
            "-v", "-p", "no:cacheprovider", "--tfreuse-instructions", "--tfreuse-no-summary",
            "--benchmark-json", str(Path(counting.json_path).resolve()), *counting.pytest_args]


def run(countings: Sequence[Counting], say: Callable[[str], None] = lambda line: print(line, flush=True),
        progress_every: float = 20.0) -> tuple[float, list[int]]:
    """Run the counting processes side by side; (wall seconds, pytest's status of each).

    UserInputError where valgrind is missing (`instructions.valgrind_missing`)."""
    from tfreuse.commands.bench import Child, run_children

    missing = instructions.valgrind_missing()
    if missing:
        raise UserInputError(f"instructions {missing}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tfreuse-callgrind-") as scratch:
        children = []
        for counting in countings:
            out = Path(scratch) / counting.name
            out.mkdir()
            environment = child_environment({"TF_CPP_MIN_LOG_LEVEL": "2", **counting.environment,
                                             **instructions.environment(out)})
            children.append(Child(command(counting, out), Path(counting.json_path).with_suffix(".log"),
                                  environment, counting.cwd))
        names = [counting.name for counting in countings]
        statuses = run_children(children, lambda index, now: say(f"tfreuse instructions: {names[index]}: {now}"),
                                progress_every)
    return time.perf_counter() - started, statuses


def counts(json_path: Path) -> list[dict]:
    """The counted cases of one counting process's JSON: scenario, variant, mode, device, size,
    fullname and `instructions_per_step` (null with `instructions_unavailable`)."""
    data = json.loads(Path(json_path).read_text(encoding="utf-8"))
    keys = ("scenario", "variant", "mode", "device", "size", "instructions_per_step", "instructions_unavailable")
    return [{"fullname": bench["fullname"], **{key: bench.get("extra_info", {}).get(key) for key in keys}}
            for bench in data.get("benchmarks", []) if bench.get("extra_info", {}).get("scenario")]


def table(rows: Sequence[dict]) -> list[str]:
    """Lines of a terminal table of instructions per step, one counted case a line."""
    lines = [f"{'scenario':<24} {'variant':<36} {'mode':<9} {'size':<8} instructions/step"]
    for row in rows:
        figure = (f"{row['instructions_per_step']:,.0f}" if row["instructions_per_step"] is not None
                  else row["instructions_unavailable"] or "not counted")
        lines.append(f"{row['scenario']:<24} {row['variant']:<36} {row['mode']:<9} {row['size']:<8} {figure}")
    return lines
