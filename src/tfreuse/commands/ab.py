"""`tfreuse ab`: base commit and working tree measured in one job, in fresh processes A B B A ...

The same machine at the same time runs both sides, K processes each, so whatever slows the
machine for a while slows both alike, and the process-level intervals of
`tfreuse.report.compare` carry the spread between processes. As asv's `continuous` does, the
base is checked out apart (a detached `git worktree` in a temporary folder) and both sides run
the benchmarks of their own tree with their own `tfreuse` package (its `src/` first on the
path); the installed environment serves both when the base's dependencies in `pyproject.toml`
are the working tree's, else the base gets an environment of its own, installed and said so.

Each side's JSON goes to `<output>/base/` and `<output>/head/`, beside `ab.json` (what ran, in
which order) that marks the two folders as one same-job A/B for `tfreuse compare`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tfreuse.core.busy import of_results
from tfreuse.core.devices import child_environment
from tfreuse.core.errors import UserInputError

MANIFEST = "ab.json"
SIDES = ("base", "head")
DEFAULT_PROCESSES = 5


def abba_order(processes: int) -> list[str]:
    """The side of each process, alternating A B B A A B B A ... (`processes` of each).

    Pairs alternate which side goes first, so a slow drift of the machine falls on both alike.
    """
    order = []
    for pair in range(processes):
        order += ["base", "head"] if pair % 2 == 0 else ["head", "base"]
    return order


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if result.returncode != 0:
        said = result.stderr.strip().splitlines()
        raise UserInputError(f"git {' '.join(args)} in {repo}: {said[-1] if said else 'failed'}")
    return result.stdout.strip()


def dependencies(pyproject: Path) -> object:
    """What `pyproject.toml` asks to install: its [project] dependencies and extras (the whole
    file where the TOML reader of Python 3.11+ is missing: any change then counts)."""
    text = pyproject.read_text(encoding="utf-8") if pyproject.exists() else ""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        return text
    project = tomllib.loads(text).get("project", {}) if text else {}
    return (sorted(project.get("dependencies", [])),
            {extra: sorted(deps) for extra, deps in project.get("optional-dependencies", {}).items()})


@dataclass
class Checkout:
    """One side: where its tree is and which Python runs its benchmarks."""

    name: str
    tree: Path
    python: str
    commit: str


def _base_python(base_tree: Path, head_tree: Path, scratch: Path) -> str:
    """This environment's Python when the dependencies match; else a new one for the base."""
    if dependencies(base_tree / "pyproject.toml") == dependencies(head_tree / "pyproject.toml"):
        print("tfreuse ab: base and working tree declare the same dependencies: one environment for both",
              flush=True)
        return sys.executable
    environment = scratch / "base-venv"
    print(f"tfreuse ab: the base's dependencies in pyproject.toml differ from the working tree's: "
          f"installing them into {environment} (a minute or more)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(environment)], check=True)
    python = str(environment / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))
    status = subprocess.run([python, "-m", "pip", "install", "--quiet", str(base_tree)]).returncode
    if status != 0:
        raise UserInputError(f"installing the base's dependencies failed (pip exit status {status})")
    return python


def run_process(checkout: Checkout, benchmarks: str, profile: str, json_path: Path,
                keyword: str | None = None, core: int | None = None, timing_only: bool = False) -> tuple[float, int]:
    """One fresh `pytest` process over `benchmarks` of `checkout`; (wall seconds, pytest's status).

    Its `src/` goes first on the path so that the side's own tfreuse package (harness, plugin)
    runs, not the one installed; pytest's output goes to a log beside the JSON. With `core`, the
    process runs on that core only (as `tfreuse bench` pins its processes).
    """
    from tfreuse.commands.bench import pin_to, run_logged

    command = [checkout.python, "-m", "pytest", benchmarks, "-v", "-p", "no:cacheprovider",
               "--tfreuse-profile", profile, "--benchmark-json", str(json_path), "--tfreuse-no-summary"]
    command += (["-k", keyword] if keyword else []) + (["--tfreuse-timing-only"] if timing_only else [])
    environment = child_environment({**_side_path(checkout), "TF_CPP_MIN_LOG_LEVEL": "2"})
    started = time.perf_counter()
    status = run_logged(command, json_path.with_suffix(".log"), environment,
                        lambda now: print(f"[{now}]", end=" ", flush=True), cwd=checkout.tree,
                        preexec_fn=pin_to(core))
    return time.perf_counter() - started, status


def _side_path(checkout: Checkout) -> dict[str, str]:
    """PYTHONPATH with the side's own `src/` first."""
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(checkout.tree / "src"), os.environ.get("PYTHONPATH")) if p)}


def count_instructions(checkouts: dict[str, Checkout], benchmarks: str, profile: str, folder: Path,
                       keyword: str | None = None) -> dict:
    """Both sides' instruction counts, in one valgrind process each, side by side (counts do not
    depend on load); what the manifest records of them."""
    from tfreuse.commands import counting

    countings = [counting.Counting(side, [benchmarks], folder / f"{side}.json", python=checkout.python,
                                   cwd=checkout.tree, environment=_side_path(checkout),
                                   pytest_args=["--tfreuse-profile", profile, *(["-k", keyword] if keyword else [])])
                 for side, checkout in checkouts.items()]
    folder.mkdir()
    print("tfreuse ab: counting instructions per step of the reuse cases, base and head side by side "
          "under valgrind ...", flush=True)
    seconds, results = counting.run(countings, say=lambda line: print(line.replace("tfreuse instructions",
                                                                                   "tfreuse ab"), flush=True))
    print(f"tfreuse ab: instructions counted in {seconds:.0f} s", flush=True)
    statuses = dict(zip(checkouts, results))
    for side, status in statuses.items():
        if not (folder / f"{side}.json").exists():
            log = folder / f"{side}.log"
            said = log.read_text(encoding="utf-8", errors="replace")
            older = "unrecognized arguments" in said and "--tfreuse-instructions" in said
            why = (f"not compared: the {side}'s tfreuse cannot count instructions (it predates the gate)" if older
                   else f"not compared: the {side} side's counting process wrote no results (pytest exit "
                        f"status {status}; see {log})")
            print(f"tfreuse ab: instructions {why}", flush=True)
            return {"unavailable": why, "seconds": round(seconds, 1)}
    return {"files": {side: f"{folder.name}/{side}.json" for side in checkouts}, "seconds": round(seconds, 1),
            "pytest_status": statuses}


def same_job(baseline: Path, candidate: Path) -> dict | None:
    """The manifest of the `tfreuse ab` run whose two sides these folders are, else None."""
    baseline, candidate = Path(baseline).resolve(), Path(candidate).resolve()
    if baseline.parent != candidate.parent or not baseline.is_dir():
        return None
    manifest = baseline.parent / MANIFEST
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (baseline.name, candidate.name) != tuple(data.get("sides", ())):
        return None
    return data


GATES = ("instructions", "wall")


def run(base: str, output: Path, processes: int = DEFAULT_PROCESSES, profile: str = "quick",
        benchmarks: str = "benchmarks", keyword: str | None = None, repo: Path | None = None,
        gates: tuple[str, ...] = GATES, pin: bool = True) -> Path:
    """Count both sides' instructions (where valgrind is), then run base and working tree
    A B B A ..., `processes` of each, pinned to one core unless `pin` is false; return the output
    folder. A side's first process measures every figure, its others are timing-only."""
    from tfreuse.commands.bench import pinned_core
    from tfreuse.core.atomic import atomic_write
    from tfreuse.core.profiles import resolve_profile
    from tfreuse.probes.instructions import valgrind_missing

    if processes < 1 and "wall" in gates:
        raise UserInputError(f"--processes must be at least 1, not {processes}")
    unknown = [gate for gate in gates if gate not in GATES]
    if unknown or not gates:
        raise UserInputError(f"--gates {','.join(gates)}: choose instructions, wall or both")
    try:
        resolve_profile(profile)  # an unknown name fails here, not in 2K processes
    except ValueError as exc:
        raise UserInputError(str(exc)) from None
    head_tree = Path(_git(Path(repo or Path.cwd()), "rev-parse", "--show-toplevel"))
    try:
        commit = _git(head_tree, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    except UserInputError:
        raise UserInputError(f"--base {base!r} is not a commit of {head_tree}") from None
    if Path(benchmarks).is_absolute():  # each side runs its own copy: a path inside the tree
        try:
            benchmarks = str(Path(benchmarks).resolve().relative_to(head_tree.resolve()))
        except ValueError:
            raise UserInputError(f"{benchmarks} is not inside the git working tree {head_tree}") from None
    if not (head_tree / benchmarks).exists():
        raise UserInputError(f"{head_tree / benchmarks}: no such benchmarks folder in the working tree")
    dirty = bool(_git(head_tree, "status", "--porcelain", "--untracked-files=no"))
    if dirty:
        print("tfreuse ab: the working tree has uncommitted changes: the head side measures them", flush=True)
    missing = valgrind_missing() if "instructions" in gates else "not asked (--gates)"
    counted = missing is None
    if "instructions" in gates and not counted:
        print(f"tfreuse ab: instructions {missing}; the wall-time gate only", flush=True)
    core = pinned_core() if pin else None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = Path(output).resolve() / stamp
    for side in SIDES:
        (folder / side).mkdir(parents=True, exist_ok=False)
    started = time.perf_counter()
    instructions: dict = {"unavailable": missing}
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="tfreuse-ab-") as scratch:
        base_tree = Path(scratch) / "base"
        _git(head_tree, "worktree", "add", "--detach", "--quiet", str(base_tree), commit)
        try:
            checkouts = {
                "base": Checkout("base", base_tree, _base_python(base_tree, head_tree, Path(scratch)), commit),
                "head": Checkout("head", head_tree, sys.executable, _git(head_tree, "rev-parse", "HEAD")),
            }
            if not (base_tree / benchmarks).exists():
                raise UserInputError(f"the base {base} ({commit[:12]}) has no {benchmarks} folder")
            if counted:
                instructions = count_instructions(checkouts, benchmarks, profile, folder / "instructions", keyword)
            if "wall" in gates:
                runs = _wall_processes(checkouts, benchmarks, profile, folder, processes, keyword, core)
        finally:
            subprocess.run(["git", "-C", str(head_tree), "worktree", "remove", "--force", str(base_tree)],
                           capture_output=True)
    manifest = {
        "kind": "same-job A/B", "sides": list(SIDES), "base": base, "base_commit": commit,
        "head_commit": checkouts["head"].commit, "head_dirty": dirty, "head_tree": str(head_tree),
        "processes": processes if "wall" in gates else 0, "pinned_core": core,
        "profile": profile, "benchmarks": benchmarks, "keyword": keyword, "runs": runs,
        "instructions": instructions,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "same_environment": checkouts["base"].python == sys.executable,
    }
    atomic_write(folder / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    return folder


def _wall_processes(checkouts: dict[str, Checkout], benchmarks: str, profile: str, folder: Path,
                    processes: int, keyword: str | None, core: int | None) -> list[dict]:
    """The timed processes, A B B A ..., each side's first measuring every figure; what ran."""
    where = f", pinned to core {core}" if core is not None else ""
    order, runs, started = abba_order(processes), [], time.perf_counter()
    counts = {side: 0 for side in SIDES}
    for position, side in enumerate(order, start=1):
        counts[side] += 1
        json_path = folder / side / f"process-{counts[side]:02d}.json"
        print(f"tfreuse ab: {position}/{len(order)} {side} process {counts[side]}{where} ...", end=" ", flush=True)
        seconds, status = run_process(checkouts[side], benchmarks, profile, json_path, keyword, core,
                                      timing_only=counts[side] > 1)
        left = (time.perf_counter() - started) / position * (len(order) - position)
        print(f"{seconds:.1f} s" + ("" if status == 0 else f" (pytest exit status {status})")
              + (f"; about {left / 60:.1f} min left" if position < len(order) else ""), flush=True)
        if not json_path.exists():
            raise UserInputError(f"the {side} process {counts[side]} wrote no results (pytest exit "
                                 f"status {status}); see {json_path.with_suffix('.log')}")
        busy = of_results(json_path)
        if busy:
            print(f"tfreuse ab: warning: {side} process {counts[side]}: {busy}", flush=True)
        runs.append({"side": side, "file": f"{side}/{json_path.name}", "seconds": round(seconds, 2),
                     "pytest_status": status, "busy": busy})
    return runs
