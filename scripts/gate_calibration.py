"""The figures of issue 15's "Done when", on a quiet machine: false alarms, catches, coverage, wall time.

    .venv/bin/python scripts/gate_calibration.py [--runs 5] [--processes 3] [--extra 1 2 4 8] [-k EXPR]

Run from the repository root of a clean checkout, after `make install`, with nothing else running
(every benchmark process runs under `flock /tmp/tfreuse-bench.lock`). Results and a summary go to
`reports/calibration/<UTC time>/`:

1. A/A: `tfreuse ab --base HEAD` `--runs` times: regressions flagged (false alarms), interval
   coverage and the largest lower bound of a change (the threshold that would stay silent here);
2. slowdowns: in a clone of HEAD, the `shared_layer` scenario's layer does N extra matmuls in
   `call` (every variant of that scenario slows, `shared` included), `tfreuse ab --base HEAD`
   `--runs` times per N: how often each `test_shared_layer[shared-*]` is flagged, and the slowdown
   measured (the same N slows eager mode far more than function mode, where a step is mostly
   dispatch: on a loaded 2-core VM, 8 extra matmuls left the function-mode step within noise);
   the smallest measured slowdown flagged in every run is the smallest slowdown caught;
3. a retrace per step: every layer scenario's `shared` step gets a new wrapper object per call
   (the tf.function retraces), once: flagged by the exact gate;
4. two independent quick runs of HEAD (`pytest benchmarks --profile quick`), then `tfreuse
   compare` of them: exit 0 expected (times shown, not gated).
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

LOCK = ["flock", "/tmp/tfreuse-bench.lock"]
TFREUSE = [sys.executable, "-m", "tfreuse.cli"]
LAYER_CALL = "        return tf.matmul(inputs, self.kernel) + self.bias\n"
RETRACE_FROM = "        return self._step(lambda: body(layer, optimizer, *inputs), lambda: layer, inputs)\n"
RETRACE_TO = '''        class Fresh:  # calibration candidate: a new object every step, so the tf.function retraces
            def __call__(self, *args, **kwargs):
                return layer(*args, **kwargs)

            def __getattr__(self, name):
                return getattr(layer, name)

        return self._step(lambda: body(Fresh(), optimizer, *inputs), lambda: layer, inputs)
'''


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


def _ab(tree: Path, output: Path, processes: int, markdown: Path, keyword: str | None = None) -> dict:
    """`tfreuse ab --base HEAD` in `tree` (on the benchmarks `keyword` selects, if given); its
    exit status, manifest and comparison table."""
    env = {**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": "1"}
    status = subprocess.run([*LOCK, *TFREUSE, "ab", "--base", "HEAD", "--processes", str(processes),
                             "--profile", "quick", "-o", str(output), "--markdown", str(markdown),
                             *(["-k", keyword] if keyword else [])],
                            cwd=tree, env=env).returncode
    folder = sorted(output.iterdir())[-1]
    from tfreuse.report.compare import SAME_JOB, compare
    from tfreuse.report.load import load

    table = compare(load([folder / "base"]), load([folder / "head"]), kind=SAME_JOB).table
    return {"status": status, "folder": folder, "table": table,
            "manifest": json.loads((folder / "ab.json").read_text())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--extra", type=int, nargs="*", default=[4, 16, 64],
                        help="extra matmuls in the shared_layer layer's call, one candidate each")
    parser.add_argument("-k", dest="keyword", default=None,
                        help="pytest -k expression: calibrate on these benchmarks only (faster, less coverage)")
    args = parser.parse_args()
    root = Path(subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                               check=True).stdout.strip())
    if subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True).stdout.strip():
        raise SystemExit("the working tree has uncommitted changes: an A/A would not be one; commit or stash them")
    out = root / "reports" / "calibration" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out.mkdir(parents=True)
    lines = [f"# Gate calibration of {root} at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             f"benchmarks: {args.keyword or 'all'}; {args.processes} processes a side", ""]

    from tfreuse import selfcheck

    aa = [_ab(root, out / "aa", args.processes, out / f"aa-{i}.md", args.keyword) for i in range(1, args.runs + 1)]
    checks, _ = selfcheck.aa_checks([(run["folder"] / "base", run["folder"] / "head") for run in aa],
                                    __import__("tfreuse.ab").ab.DEFAULT_THRESHOLD)
    lines += ["## A/A", "", selfcheck.text_table(checks), "",
              f"exit statuses {[run['status'] for run in aa]}; wall time of each ab "
              f"{[run['manifest']['wall_seconds'] for run in aa]} s", ""]

    lines += ["## Slowdowns of the shared_layer layer (extra matmuls in call)", "",
              "| extra matmuls | benchmark | runs flagging it slower | measured change [interval] of each run |",
              "|---|---|---|---|"]
    for count in args.extra:
        with tempfile.TemporaryDirectory() as scratch:
            tree = _patched(root, Path(scratch) / "tree", "benchmarks/test_shared_layer.py", LAYER_CALL,
                            _extra_work(count))
            runs = [_ab(tree, out / f"slow-{count}", args.processes, out / f"slow-{count}-{i}.md", args.keyword)
                    for i in range(1, args.runs + 1)]
        tables = pd.concat([run["table"].assign(run=index) for index, run in enumerate(runs, start=1)])
        shared = tables[tables["benchmark"].str.startswith("test_shared_layer[shared-")]
        for benchmark, rows in shared.groupby("benchmark"):
            changes = "; ".join(f"{c:+.0%} [{lo:+.0%}, {hi:+.0%}]" for c, lo, hi in
                                zip(rows["change"], rows["change_low"], rows["change_high"]))
            lines.append(f"| {count} | {benchmark} | {int((rows['verdict'] == 'slower').sum())}/{len(runs)} | "
                         f"{changes} |")

    with tempfile.TemporaryDirectory() as scratch:
        tree = _patched(root, Path(scratch) / "tree", "src/tfreuse/scenarios/layer_reuse.py", RETRACE_FROM, RETRACE_TO)
        retrace = _ab(tree, out / "retrace", args.processes, out / "retrace.md", args.keyword)
    table = retrace["table"]
    lines += ["", "## A retrace per step of every layer scenario's shared step", "",
              f"exit status {retrace['status']}; flagged 'more traces': "
              f"{sorted(table.loc[table['verdict'] == 'more traces', 'benchmark'])}", ""]

    runs = []
    for index in (1, 2):
        path = out / f"independent-{index}.json"
        subprocess.run([*LOCK, sys.executable, "-m", "pytest", "benchmarks", "-q", "-p", "no:cacheprovider",
                        "--profile", "quick", "--benchmark-json", str(path)], cwd=root,
                       env={**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": "1"}, stdout=subprocess.DEVNULL)
        runs.append(path)
    status = subprocess.run([*TFREUSE, "compare", *map(str, runs), "--markdown", str(out / "independent.md")],
                            stdout=subprocess.DEVNULL).returncode
    lines += ["## Two independent quick runs, `tfreuse compare`", "", f"exit status {status} (0 expected)", ""]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
