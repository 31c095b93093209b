"""The `tfreuse` command: `bench`, `instructions`, `report`, `findings`, `compare`, `ab`, `measure`,
`machine`, `selfcheck`, `watch`, `scenarios` (scripts/ holds thin wrappers)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tfreuse.core.errors import UserInputError

EXIT_REGRESSION = 1
EXIT_BAD_INPUT = 2


def _report(args: argparse.Namespace) -> int:
    from tfreuse.report.load import load
    from tfreuse.report.output import write_report

    loaded = load(args.paths)
    for warning in loaded.warnings + loaded.busy:
        print(f"tfreuse report: warning: {warning}", file=sys.stderr)
    written = write_report(loaded, args.output)
    print(f"{len(loaded.rows)} results in {loaded.rows['source'].nunique()} file(s) from "
          f"{len(loaded.machines)} machine(s) -> " + ", ".join(str(path) for path in written.values()))
    print(_intervals_said(loaded))
    return 0


def _intervals_said(loaded) -> str:
    """One line on what the report's ratio intervals cover."""
    from tfreuse.report.analyze import interval_label, latest_runs, merge_processes

    rows = loaded.rows[loaded.rows["tfreuse"].astype(bool)]
    if rows.empty:
        return "intervals: none (no tfreuse results)"
    label = interval_label(latest_runs(merge_processes(rows))["processes"])
    if label == "within-process interval":
        return (f"intervals: {label}s, the spread of one process's rounds only; `tfreuse bench` "
                "(`make bench`) measures in several fresh processes for 95% intervals over them")
    return f"intervals: {label}"


def _bench(args: argparse.Namespace) -> int:
    from tfreuse.commands import bench
    from tfreuse.report.analyze import analyze
    from tfreuse.report.load import load
    from tfreuse.report.output import write_report
    from tfreuse.report.terminal import table

    folder, runs = bench.run(args.benchmarks, args.output, processes=args.processes, profile=args.profile,
                             pin=not args.no_pin, keyword=args.keyword)
    written = [run.json_path for run in runs if run.json_path.exists() and run.json_path.stat().st_size]
    status = next((run.status for run in runs if run.status != 0), 0)
    seconds = sum(run.seconds for run in runs)
    print(f"tfreuse bench: {len(runs)} process(es) in {seconds / 60:.1f} min; results: {folder}")
    if not written:
        raise UserInputError(f"no process wrote results; see the logs in {folder}")
    loaded = load(written)
    for warning in loaded.warnings:
        print(f"tfreuse bench: warning: {warning}", file=sys.stderr)
    for sentence in loaded.busy:
        print(f"tfreuse bench: warning: {sentence}")
    print("\n".join(table(analyze(loaded.rows))))
    if args.report:
        report = write_report(loaded, args.report)
        print("report: " + ", ".join(str(path) for path in report.values()))
    return status


def _instructions(args: argparse.Namespace) -> int:
    from tfreuse.commands import bench, counting

    bench.check_request(args.benchmarks, args.profile)
    folder, _stamp = bench.new_folder(args.output)
    json_path = folder / "instructions.json"
    pytest_args = [*(["--tfreuse-profile", args.profile] if args.profile else []),
                   *(["-k", args.keyword] if args.keyword else [])]
    print(f"tfreuse instructions: counting the reuse cases under valgrind (about 25 s to import "
          f"TensorFlow, then seconds a case); log: {json_path.with_suffix('.log')}", flush=True)
    seconds, [status] = counting.run([counting.Counting("instructions", args.benchmarks, json_path,
                                                        pytest_args=pytest_args)])
    if not json_path.exists():
        raise UserInputError(f"pytest wrote no results (exit status {status}); see {json_path.with_suffix('.log')}")
    print("\n".join(counting.table(counting.counts(json_path))))
    print(f"tfreuse instructions: {seconds:.0f} s" + ("" if status == 0 else f" (pytest exit status {status})")
          + f"; results: {json_path}")
    return status


def _agreement(args: argparse.Namespace) -> int:
    from tfreuse.report.agreement import agreement
    from tfreuse.report.analyze import analyze
    from tfreuse.report.load import load

    measured = []
    for path in (args.first, args.second):
        loaded = load([path])
        analyzed = analyze(loaded.rows)
        if analyzed[["machine", "measurement"]].drop_duplicates().shape[0] != 1:
            raise UserInputError(f"{path}: holds several measurements; name one run's JSON or one "
                                 "`tfreuse bench` folder")
        measured.append(analyzed)
    result = agreement(*measured)
    if not result.rows:
        raise UserInputError(f"{args.first} and {args.second} have no ratio row in common")
    print("\n".join(result.lines()))
    return 0


def _findings(args: argparse.Namespace) -> int:
    from tfreuse.report.findings import update

    block = update(args.results, readme=args.readme, keep=args.keep, schema_doc=args.schema_table)
    if args.readme is None:
        print(block, end="")
    else:
        print(f"findings table of {args.results} -> {args.readme}"
              + (f" (results kept, trimmed, in {args.keep})" if args.keep else "")
              + (f"; schema table -> {args.schema_table}" if args.schema_table else ""))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from tfreuse.commands import ab
    from tfreuse.core.atomic import atomic_write
    from tfreuse.report.compare import ACROSS_RUNS, SAME_JOB, compare, markdown
    from tfreuse.report.load import load

    baseline, candidate = load([args.baseline]), load([args.candidate])
    for warning in baseline.warnings + candidate.warnings:
        print(f"tfreuse compare: warning: {warning}", file=sys.stderr)
    kind = SAME_JOB if ab.same_job(args.baseline, args.candidate) else ACROSS_RUNS
    comparison = compare(baseline, candidate, threshold=args.threshold / 100, kind=kind)
    text = markdown(comparison)
    print(text)
    if args.markdown:
        atomic_write(args.markdown, text)
    return EXIT_REGRESSION if len(comparison.regressions) else 0


def _ab(args: argparse.Namespace) -> int:
    from tfreuse.commands import ab, counting
    from tfreuse.core.atomic import atomic_write
    from tfreuse.report.compare import SAME_JOB, compare, compare_instructions, instruction_markdown, markdown
    from tfreuse.report.load import load

    gates = tuple(gate.strip() for gate in args.gates.split(",") if gate.strip())
    folder = ab.run(args.base, args.output, processes=args.processes, profile=args.profile,
                    benchmarks=args.benchmarks, keyword=args.keyword, gates=gates, pin=not args.no_pin)
    manifest = ab.same_job(folder / "base", folder / "head")
    text, regressions = "", 0
    files = manifest["instructions"].get("files")
    if files:
        counted = compare_instructions(counting.counts(folder / files["base"]), counting.counts(folder / files["head"]),
                                       threshold=args.instruction_threshold / 100)
        text += instruction_markdown(counted) + "\n"
        regressions += len(counted.regressions)
    elif "instructions" in gates:
        text += f"## Instructions per step: {manifest['instructions']['unavailable']}\n\n"
    if manifest["runs"]:
        comparison = compare(load([folder / "base"]), load([folder / "head"]), threshold=args.threshold / 100,
                             kind=SAME_JOB)
        text += markdown(comparison)
        regressions += len(comparison.regressions)
    failed = [run["file"] for run in manifest["runs"] if run["pytest_status"] != 0]
    failed += [name for name, status in manifest["instructions"].get("pytest_status", {}).items() if status != 0]
    if failed:
        text += f"\n> pytest failed in {len(failed)} process(es): {', '.join(failed)} (logs beside them)\n"
    pinned = ("" if manifest["pinned_core"] is None or not manifest["runs"]
              else f", wall-time processes pinned to core {manifest['pinned_core']}")
    text += (f"\n`tfreuse ab --base {args.base}` ({manifest['base_commit'][:12]} vs the working tree at "
             f"{manifest['head_commit'][:12]}), {args.profile} profile{pinned}: {manifest['wall_seconds']:.0f} s\n")
    print(text)
    atomic_write(folder / "compare.md", text)
    if args.markdown:
        atomic_write(args.markdown, text)
    print(f"results: {folder}")
    return EXIT_REGRESSION if regressions or failed else 0


def _measure(args: argparse.Namespace) -> int:
    import datetime as dt

    from tfreuse.commands import measure

    shape = measure.parse_shape(args.input_shape)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    output = args.output or Path(f"tfreuse-measure-{stamp}.json")
    if args.output is None and args.processes > 1:
        output = Path(f"tfreuse-measure-{stamp}")
    status = measure.run(args.target, shape, output, train=args.train, modes=args.modes,
                         devices=args.devices, profile=args.profile, processes=args.processes,
                         pin=not args.no_pin)
    if output.exists():
        print(measure.table(output))
        print(f"results: {output} (tfreuse report {output} -o DIR turns it into a report)")
    return status


def _machine(args: argparse.Namespace) -> int:
    import json
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up lines off stdout users parse
    import cpuinfo

    from tfreuse.core.machine import tensorflow_info

    info = tensorflow_info(cpuinfo.get_cpu_info())
    print(info["label"] if args.label else json.dumps(info, indent=1))
    return 0


def _selfcheck(args: argparse.Namespace) -> int:
    from tfreuse.commands import selfcheck

    return selfcheck.run(args.benchmarks, args.output, aa_runs=args.aa_runs, processes=args.processes,
                         quick_profile=args.quick_profile, measurements=0 if args.no_measurements else 2,
                         allow_busy=args.allow_busy)


def _watch(args: argparse.Namespace) -> int:
    from tfreuse.tools.watch import watch

    return watch(args.script_command, args.fail_on_findings)


def _scenarios(args: argparse.Namespace) -> int:
    from tfreuse.commands.catalogue import write

    text = write(args.paths, args.markdown)
    if args.markdown is None:
        print(text, end="")
    else:
        print(f"scenarios of {', '.join(map(str, args.paths))} -> {args.markdown}")
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line of `tfreuse`."""
    from tfreuse.commands.ab import DEFAULT_PROCESSES
    from tfreuse.report.compare import INSTRUCTION_THRESHOLD, WALL_THRESHOLD

    main_parser = argparse.ArgumentParser(prog="tfreuse", description=__doc__)
    commands = main_parser.add_subparsers(dest="command", required=True)

    report = commands.add_parser("report", help="build the HTML report and CSV from result JSON")
    report.add_argument("paths", nargs="+", help="pytest-benchmark JSON files or folders of them")
    report.add_argument("-o", "--output", default="reports", type=Path,
                        help="folder for index.html, results.csv, summary.md (default: reports)")
    report.set_defaults(run=_report)

    from tfreuse.commands.bench import DEFAULT_PROCESSES as BENCH_PROCESSES

    benching = commands.add_parser(
        "bench", help="run the benchmarks in K fresh processes, one after the other, for intervals over processes")
    benching.add_argument("benchmarks", nargs="*", default=["benchmarks"],
                          help="benchmark files or folders (default: benchmarks)")
    benching.add_argument("--processes", type=int, default=BENCH_PROCESSES, metavar="K",
                          help=f"fresh pytest processes (default: {BENCH_PROCESSES}; 1 gives intervals "
                               "within one process only)")
    benching.add_argument("--profile", help="smoke, quick or full (default: $TFREUSE_PROFILE, else full)")
    benching.add_argument("--no-pin", action="store_true",
                          help="let each process run on any core (default: pinned to one core, recorded)")
    benching.add_argument("-k", dest="keyword", help="only the benchmarks matching this pytest -k expression")
    benching.add_argument("-o", "--output", type=Path, default=Path("reports/runs"),
                          help="folder for a new <UTC time>/ folder of the processes' JSON and logs "
                               "(default: reports/runs)")
    benching.add_argument("--report", type=Path, metavar="DIR",
                          help="also write the report of this measurement into DIR")
    benching.set_defaults(run=_bench)

    counting = commands.add_parser(
        "instructions", help="count instructions per step of the reuse cases under valgrind's callgrind")
    counting.add_argument("benchmarks", nargs="*", default=["benchmarks"],
                          help="benchmark files or folders, yours too (default: benchmarks)")
    counting.add_argument("--profile", help="smoke, quick or full: which sizes (default: $TFREUSE_PROFILE, else full)")
    counting.add_argument("-k", dest="keyword", help="only the benchmarks matching this pytest -k expression")
    counting.add_argument("-o", "--output", type=Path, default=Path("reports/instructions"),
                          help="folder for a new <UTC time>/ folder with instructions.json and its log "
                               "(default: reports/instructions)")
    counting.set_defaults(run=_instructions)

    agreeing = commands.add_parser(
        "agreement", help="how often each of two measurements' ratio intervals holds the other's ratio")
    agreeing.add_argument("first", type=Path, help="one measurement: a run's JSON or a `tfreuse bench` folder")
    agreeing.add_argument("second", type=Path, help="another measurement of the same code")
    agreeing.set_defaults(run=_agreement)

    finding = commands.add_parser(
        "findings", help="the findings table (each scenario's costliest re-creation and its fixes) of one run")
    finding.add_argument("results", type=Path, help="pytest-benchmark JSON of one tfreuse run")
    finding.add_argument("--readme", type=Path,
                         help="write the table into this markdown file, between its findings markers "
                              "(default: print it)")
    finding.add_argument("--keep", type=Path,
                         help="also write a trimmed copy of the results here (what the table is made from)")
    finding.add_argument("--schema-table", type=Path, metavar="FILE",
                         help="also write the result schema's table into this markdown file, between its "
                              "schema markers")
    finding.set_defaults(run=_findings)

    comparing = commands.add_parser(
        "compare", help="gate on exact regressions between two result sets (timing too in a same-job A/B)")
    comparing.add_argument("baseline", help="JSON file or folder of the baseline")
    comparing.add_argument("candidate", help="JSON file or folder of the candidate")
    comparing.add_argument("--threshold", type=float, default=100 * WALL_THRESHOLD,
                           help="same-job A/B only: slowdown in percent that the whole 95%% interval of "
                                f"the change must exceed to fail (default: {100 * WALL_THRESHOLD:g})")
    comparing.add_argument("--markdown", type=Path, help="also write the markdown table here")
    comparing.set_defaults(run=_compare)

    testing = commands.add_parser(
        "ab", help="run a base commit and the working tree in one job, alternating fresh processes, and compare")
    testing.add_argument("--base", required=True, help="git ref of the base, e.g. main, HEAD~1 or a sha")
    testing.add_argument("--processes", type=int, default=DEFAULT_PROCESSES, metavar="K",
                         help=f"fresh pytest processes per side (default: {DEFAULT_PROCESSES})")
    testing.add_argument("--profile", default="quick", help="profile of every process (default: quick)")
    testing.add_argument("-k", dest="keyword", help="only the benchmarks matching this pytest -k expression")
    testing.add_argument("--benchmarks", default="benchmarks",
                         help="folder of benchmarks, relative to each side's tree (default: benchmarks)")
    testing.add_argument("--threshold", type=float, default=100 * WALL_THRESHOLD,
                         help="slowdown in percent that the whole 95%% interval of the change must exceed "
                              f"(default: {100 * WALL_THRESHOLD:g}, from A/A runs)")
    testing.add_argument("--instruction-threshold", type=float, default=100 * INSTRUCTION_THRESHOLD,
                         help="growth of instructions per step in percent that fails a reuse case "
                              f"(default: {100 * INSTRUCTION_THRESHOLD:g}, from A/A runs)")
    testing.add_argument("--gates", default="instructions,wall",
                         help="instructions (counted under valgrind, where it is installed), wall (timed "
                              "processes) or both (default: instructions,wall)")
    testing.add_argument("--no-pin", action="store_true",
                         help="let the timed processes run on any core (default: pinned to one core, recorded)")
    testing.add_argument("-o", "--output", type=Path, default=Path("reports/ab"),
                         help="folder for a new <UTC time>/ folder of both sides' runs and compare.md")
    testing.add_argument("--markdown", type=Path, help="also write the markdown table here")
    testing.set_defaults(run=_ab)

    measuring = commands.add_parser("measure", help="measure the reuse variants of your own layer")
    measuring.add_argument("target", help="package.module:factory returning a new Keras layer/model")
    measuring.add_argument("--input-shape", required=True, help="shape of one input batch, e.g. 32,128")
    measuring.add_argument("--train", action="store_true",
                           help="time SGD steps on mean(outputs**2) and record learning figures")
    measuring.add_argument("--modes", help="eager, function and/or jit (default: eager,function)")
    measuring.add_argument("--devices", help="all (default), cpu, gpu or names such as CPU:0,GPU:0")
    measuring.add_argument("--profile", help="smoke, quick or full (default: $TFREUSE_PROFILE or full)")
    measuring.add_argument("--processes", type=int, default=1, metavar="K",
                           help="fresh processes to measure in (default: 1, whose intervals cover that one "
                                "process only; 3 or more give 95%% intervals over processes)")
    measuring.add_argument("--no-pin", action="store_true",
                           help="with --processes: let each process run on any core (default: one core)")
    measuring.add_argument("-o", "--output", type=Path,
                           help="JSON to write (default: tfreuse-measure-<UTC time>.json; with --processes, "
                                "a folder tfreuse-measure-<UTC time>/); never overwritten")
    measuring.set_defaults(run=_measure)

    machine = commands.add_parser("machine", help="this machine's identity and label, as runs record it")
    machine.add_argument("--label", action="store_true", help="print only the label")
    machine.set_defaults(run=_machine)

    checking = commands.add_parser(
        "selfcheck", help="measure the suite's own figures: quick wall time, harness overhead, "
                          "order independence, A/A false alarms and interval coverage")
    checking.add_argument("--benchmarks", type=Path, default=Path("benchmarks"),
                          help="folder of benchmarks to run (default: benchmarks)")
    checking.add_argument("-o", "--output", type=Path, default=Path("reports/selfcheck"),
                          help="folder for a new <UTC time>/ folder of runs and selfcheck.md")
    checking.add_argument("--aa-runs", type=int, default=5, metavar="N",
                          help="A/A runs (tfreuse ab --base HEAD) for false alarms and coverage (default: 5; 0 skips)")
    checking.add_argument("--processes", type=int, default=DEFAULT_PROCESSES, metavar="K",
                          help=f"fresh processes a side in each A/A run (default: {DEFAULT_PROCESSES})")
    checking.add_argument("--no-measurements", action="store_true",
                          help="skip the two `make bench` measurements whose intervals are held against "
                               "each other (about 10 minutes)")
    checking.add_argument("--allow-busy", action="store_true",
                          help="run on a busy machine (default: refuse; the timing checks need a quiet one)")
    checking.add_argument("--quick-profile", default="quick", help=argparse.SUPPRESS)
    checking.set_defaults(run=_selfcheck)

    from tfreuse.tools.watch import add_arguments as watch_arguments

    watching = commands.add_parser(
        "watch", help="run a script unchanged; at exit, list its retraces (and what changed) and "
                      "the lines that re-created variables",
        usage="tfreuse watch [--fail-on-findings] -- python SCRIPT.py [ARGS ...]")
    watch_arguments(watching)
    watching.set_defaults(run=_watch)

    listing = commands.add_parser(
        "scenarios", help="the scenarios page: each scenario's variants, their roles and the report's words for them")
    listing.add_argument("paths", nargs="+", help="scenario modules (test_*.py) or folders of them")
    listing.add_argument("--markdown", type=Path, default=None,
                         help="write the section between the page's markers (a new page if it does not exist)")
    listing.set_defaults(run=_scenarios)
    return main_parser


def _exit_cleanly_on_sigterm() -> None:
    """Make SIGTERM (a cancelled CI job, `kill`) exit through Python, so `finally` blocks still run:
    `ab` removes its base worktree and stops its pytest child, atomic writes drop their temporary
    file. Python's default is to die at once, leaving them behind."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def main(argv: Sequence[str] | None = None) -> int:
    """Run `tfreuse`; bad input is one line on stderr and exit status 2."""
    args = parser().parse_args(argv)
    _exit_cleanly_on_sigterm()

    try:
        return args.run(args)
    except UserInputError as exc:
        print(f"tfreuse {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
