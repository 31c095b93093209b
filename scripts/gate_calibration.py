"""Calibrate `tfreuse ab`'s two speed gates on a quiet machine: false alarms and what each catches.

    .venv/bin/python scripts/gate_calibration.py [--runs 5] [--processes 3] [-k EXPR]
                                                 [--slowdown N] [--allow-busy]

Run from the repository root of a clean checkout, after `make install`, with nothing else running:
it refuses a machine that is busy before it starts, or during any timed process, unless
`--allow-busy` (then every figure carries the warning). Results and a summary go to
`reports/calibration/<UTC time>/`:

1. A/A: `tfreuse ab --base HEAD` `--runs` times: cases flagged by either gate (false alarms), the
   largest instruction change by mode, and the largest lower bound of a wall-time change (the
   threshold that would have stayed silent);
2. one more matmul: in a clone of HEAD the `shared_layer` scenario's layer does one more matmul
   (with its kernel offset, scaled and added) in `call`, so every variant slows, `shared`
   included; `tfreuse ab --base HEAD` `--runs` times: which reuse cases the instruction gate
   flags and their change; how often the wall-time gate flags each `shared` case (in eager mode
   the step doubles, in the graph modes it slows by a few percent);
3. two more elementwise ops at the end of the same `call` (in eager mode about half a step more):
   how often the wall-time gate flags each `shared` case, and the change it measured;
4. with `--slowdown N`, N extra matmuls the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from tfreuse.core.busy import busy_now

TFREUSE = [sys.executable, "-m", "tfreuse"]
LAYER_CALL = "        return tf.matmul(inputs, self.kernel) + self.bias\n"


# Two more elementwise ops after the layer's own: in eager mode, about half a step more.
TWO_OPS = ("        outputs = tf.matmul(inputs, self.kernel) + self.bias\n"
           "        return outputs + 1e-6 * outputs  # calibration candidate: two more ops in call\n")


def _extra_work(count: int) -> str:
    # Each extra matmul gets a kernel of its own (kernel + i): identical ones would be merged into
    # one by TensorFlow's graph optimizer in function mode, and only eager mode would slow.
    return (f"        outputs = tf.matmul(inputs, self.kernel) + self.bias\n"
            f"        for extra in range({count}):  # calibration candidate: extra work in call\n"
            f"            outputs = outputs + 1e-6 * tf.matmul(inputs, self.kernel + float(extra + 1))\n"
            f"        return outputs\n")


def _patched(source: Path, tree: Path, path: str, old: str, new: str) -> Path:
    """A clone of `source`'s HEAD in `tree` with `old` replaced by `new` in `path` (uncommitted)."""
    subprocess.run(["git", "clone", "-q", str(source), str(tree)], check=True)
    file = tree / path
    text = file.read_text()
    if old not in text:
        raise SystemExit(f"{path}: the text to patch is not there; update scripts/gate_calibration.py")
    file.write_text(text.replace(old, new))
    return tree


def _ab(tree: Path, output: Path, processes: int, keyword: str | None, gates: str) -> dict:
    """`tfreuse ab --base HEAD` in `tree`: its exit status, folder, manifest, both gates' tables
    and the busy sentences of its timed processes."""
    from tfreuse.commands import counting
    from tfreuse.report.compare import SAME_JOB, compare, compare_instructions
    from tfreuse.report.load import load

    env = {**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": "1"}
    status = subprocess.run([*TFREUSE, "ab", "--base", "HEAD", *(["--processes", str(processes)] if processes else []),
                             "--profile", "quick",
                             "-o", str(output), "--gates", gates, *(["-k", keyword] if keyword else [])],
                            cwd=tree, env=env, stdout=subprocess.DEVNULL).returncode
    folder = sorted(output.iterdir())[-1]
    manifest = json.loads((folder / "ab.json").read_text())
    result = {"status": status, "folder": folder, "manifest": manifest, "instructions": None, "wall": None,
              "busy": []}
    files = manifest["instructions"].get("files")
    if "instructions" in gates:
        if not files:
            raise SystemExit(f"{folder}: instructions were not counted ({manifest['instructions'].get('unavailable')})")
        result["instructions"] = compare_instructions(counting.counts(folder / files["base"]),
                                                      counting.counts(folder / files["head"])).table
    if "wall" in gates:
        base, head = load([folder / "base"]), load([folder / "head"])
        result.update(wall=compare(base, head, kind=SAME_JOB).table, busy=base.busy + head.busy)
    return result


def _candidate(root: Path, out: Path, name: str, call: str | None, runs: int, processes: int,
               keyword: str | None, gates: str) -> list[dict]:
    """`runs` A/B runs of HEAD against HEAD (call None) or HEAD with the shared_layer layer's
    `call` ending as `call` says."""
    if call is None:
        return [_ab(root, out / name, processes, keyword, gates) for _ in range(runs)]
    with tempfile.TemporaryDirectory() as scratch:
        tree = _patched(root, Path(scratch) / "tree", "benchmarks/test_shared_layer.py", LAYER_CALL, call)
        return [_ab(tree, out / name, processes, keyword, gates) for _ in range(runs)]


def _instruction_lines(runs: list[dict]) -> list[str]:
    tables = pd.concat([run["instructions"].assign(run=i) for i, run in enumerate(runs, start=1)])
    counted = tables[tables["verdict"] != "not counted"]
    lines = ["| mode | counted cases | flagged (runs) | largest change | changes of test_shared_layer[shared-*] |",
             "|---|---|---|---|---|"]
    for mode, rows in counted.groupby("mode"):
        flagged = rows[rows["regression"]]
        shared = rows[rows["benchmark"].str.startswith("test_shared_layer[shared-")]
        lines.append(f"| {mode} | {rows['benchmark'].nunique()} | "
                     f"{', '.join(sorted(set(flagged['benchmark']))) or 'none'} "
                     f"({flagged['run'].nunique()}/{len(runs)}) | "
                     f"{rows['change'].abs().max():.2%} | {', '.join(f'{c:+.2%}' for c in shared['change'])} |")
    return lines


def _wall_lines(runs: list[dict]) -> list[str]:
    tables = pd.concat([run["wall"].assign(run=i) for i, run in enumerate(runs, start=1)])
    lines = ["| benchmark | runs flagged slower | change [interval] of each run |", "|---|---|---|"]
    shown = tables[tables["benchmark"].str.startswith("test_shared_layer[shared-") | tables["regression"]]
    for benchmark, rows in shown.groupby("benchmark"):
        changes = "; ".join(f"{c:+.1%} [{lo:+.1%}, {hi:+.1%}]"
                            for c, lo, hi in zip(rows["change"], rows["change_low"], rows["change_high"]))
        lines.append(f"| {benchmark} | {int(rows['regression'].sum())}/{len(runs)} | {changes} |")
    lines.append("")
    lines.append(f"largest lower bound of a change: {tables['change_low'].max():+.1%}; runs flagging anything: "
                 f"{sum(bool(run['wall']['regression'].any()) for run in runs)}/{len(runs)}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--processes", type=int, default=None, help="timed processes a side (default: ab's)")
    parser.add_argument("--slowdown", type=int, default=0,
                        help="extra matmuls of a larger slowdown, run too (default: 0, none)")
    parser.add_argument("-k", dest="keyword", default="shared_layer",
                        help="pytest -k expression of the benchmarks to run (default: shared_layer)")
    parser.add_argument("--allow-busy", action="store_true", help="calibrate wall time even on a busy machine")
    parser.add_argument("--gates", default="instructions,wall",
                        help="instructions, wall or both (default); counts need no quiet machine")
    args = parser.parse_args()
    root = Path(subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                               check=True).stdout.strip())
    if subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                      text=True).stdout.strip():
        raise SystemExit("the working tree has uncommitted changes: an A/A would not be one; commit or stash them")
    timed = "wall" in args.gates
    busy = busy_now() if timed else None
    if busy and not args.allow_busy:
        raise SystemExit(f"not calibrating: {busy} (--allow-busy to go on)")
    out = root / "reports" / "calibration" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out.mkdir(parents=True)
    lines = [f"# Gate calibration at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             f"gates: {args.gates}; benchmarks: {args.keyword or 'all'}; {args.processes or 'default'} timed "
             f"processes a side; load average {os.getloadavg()[0]:.2f} at the start", ""]
    candidates = [("A/A", "aa", None), ("one more matmul", "one-matmul", _extra_work(1)),
                  ("two more elementwise ops", "two-ops", TWO_OPS)]
    if args.slowdown:
        candidates.append((f"{args.slowdown} more matmuls", f"matmuls-{args.slowdown}", _extra_work(args.slowdown)))
    for title, name, call in candidates:
        runs = _candidate(root, out, name, call, args.runs, args.processes, args.keyword, args.gates)
        said = [sentence for run in runs for sentence in run["busy"]]
        if said and not args.allow_busy:
            raise SystemExit(f"not calibrating: {said[0]} (--allow-busy to go on)")
        lines += [f"## {title}", ""]
        if "instructions" in args.gates:
            lines += ["### Instructions per step", "", *_instruction_lines(runs), ""]
        if timed:
            lines += ["### Wall time (pinned processes)", "", *_wall_lines(runs), ""]
        lines += [f"exit statuses {[run['status'] for run in runs]}; seconds of each ab "
                  f"{[run['manifest']['wall_seconds'] for run in runs]}; counting seconds "
                  f"{[run['manifest']['instructions'].get('seconds') for run in runs]}; busy: {said or 'never'}", ""]
        (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"summary: {out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
