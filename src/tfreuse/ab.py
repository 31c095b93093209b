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

from tfreuse.devices import child_environment
from tfreuse.errors import UserInputError

MANIFEST = "ab.json"
SIDES = ("base", "head")
DEFAULT_PROCESSES = 3
# Default timing threshold of a same-job A/B: a slowdown is called only when the whole 95% interval
# of the change lies above it. Provenance: provisional, the 10% of the former cross-job gate. One
# A/A run (K=3, quick, shared_layer and attention) on intel-xeon-2c-1ed0cb under a load of 5-6 from
# other jobs (2026-11-28) flagged nothing, its largest lower bound of a change -52%: too noisy to
# calibrate on. To be set above the largest A/A lower bound that `scripts/gate_calibration.py` or
# `make selfcheck` reports on a quiet machine.
DEFAULT_THRESHOLD = 0.10


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
                keyword: str | None = None) -> tuple[float, int]:
    """One fresh `pytest` process over `benchmarks` of `checkout`; (wall seconds, pytest's status).

    Its `src/` goes first on the path so that the side's own tfreuse package (harness, plugin)
    runs, not the one installed; pytest's output goes to a log beside the JSON.
    """
    from tfreuse.bench import run_logged

    command = [checkout.python, "-m", "pytest", benchmarks, "-v", "-p", "no:cacheprovider",
               "--tfreuse-profile", profile, "--benchmark-json", str(json_path)]
    if keyword:
        command += ["-k", keyword]
    path = os.pathsep.join(p for p in (str(checkout.tree / "src"), os.environ.get("PYTHONPATH")) if p)
    environment = child_environment({"PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "2"})
    started = time.perf_counter()
    status = run_logged(command, json_path.with_suffix(".log"), environment,
                        lambda now: print(f"[{now}]", end=" ", flush=True), cwd=checkout.tree)
    return time.perf_counter() - started, status


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


def run(base: str, output: Path, processes: int = DEFAULT_PROCESSES, profile: str = "quick",
        benchmarks: str = "benchmarks", keyword: str | None = None, repo: Path | None = None) -> Path:
    """Run base and working tree A B B A ..., `processes` of each; return the output folder."""
    from tfreuse.atomic import atomic_write
    from tfreuse.profiles import resolve_profile

    if processes < 1:
        raise UserInputError(f"--processes must be at least 1, not {processes}")
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
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = Path(output).resolve() / stamp
    for side in SIDES:
        (folder / side).mkdir(parents=True, exist_ok=False)
    started = time.perf_counter()
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
            order, runs = abba_order(processes), []
            counts = {side: 0 for side in SIDES}
            for position, side in enumerate(order, start=1):
                counts[side] += 1
                json_path = folder / side / f"process-{counts[side]:02d}.json"
                print(f"tfreuse ab: {position}/{len(order)} {side} process {counts[side]} ...", end=" ", flush=True)
                seconds, status = run_process(checkouts[side], benchmarks, profile, json_path, keyword)
                left = (time.perf_counter() - started) / position * (len(order) - position)
                print(f"{seconds:.1f} s" + ("" if status == 0 else f" (pytest exit status {status})")
                      + (f"; about {left / 60:.1f} min left" if position < len(order) else ""), flush=True)
                if not json_path.exists():
                    raise UserInputError(f"the {side} process {counts[side]} wrote no results (pytest exit "
                                         f"status {status}); see {json_path.with_suffix('.log')}")
                runs.append({"side": side, "file": f"{side}/{json_path.name}", "seconds": round(seconds, 2),
                             "pytest_status": status})
        finally:
            subprocess.run(["git", "-C", str(head_tree), "worktree", "remove", "--force", str(base_tree)],
                           capture_output=True)
    manifest = {
        "kind": "same-job A/B", "sides": list(SIDES), "base": base, "base_commit": commit,
        "head_commit": checkouts["head"].commit, "head_dirty": dirty, "head_tree": str(head_tree),
        "processes": processes,
        "profile": profile, "benchmarks": benchmarks, "keyword": keyword, "runs": runs,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "same_environment": checkouts["base"].python == sys.executable,
    }
    atomic_write(folder / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    return folder
