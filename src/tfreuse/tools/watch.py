"""`tfreuse watch -- python train.py ...`: run a script unchanged and say what it re-created.

The script runs in this process (runpy, as `python` would run it) after the guard's probes are
installed: every tf.function trace with what changed since the function's previous trace, every
tf.Variable with the user's line that constructed its Keras owner (and the line that built it),
and memory kept (after a garbage collection) before and after. Nothing fails: at exit a summary
goes to stderr and the exit status is the script's, unless `--fail-on-findings` is given.

A script has no marked steps, so "after the first step" is read per line and per function: a
tf.function's first trace is its warm-up and every later trace a finding (so is every further
tf.function object made from the same `def`); a line's first creation of a variable (by name,
shape and dtype; the line is its owner's construction when known) is its warm-up and every later
creation of the same kind of variable a finding.
Identical layers built at one line in a loop over layers look like re-creation too: for steps,
use the guard, where the steps are marked.
"""

from __future__ import annotations

import argparse
import os
import re
import runpy
import sys
import traceback
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from tfreuse.core.units import byte_size
from tfreuse.probes.census import CreatedVariable
from tfreuse.probes.resources import Held
from tfreuse.probes.stack import SourceLine
from tfreuse.probes.tracing import TraceEvent

EXIT_FINDINGS = 3
EXIT_BAD_INPUT = 2
SHOWN_VALUES = 6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `tfreuse watch` (shared by `python -m tfreuse.tools.watch`)."""
    parser.add_argument("--fail-on-findings", action="store_true",
                        help=f"exit with status {EXIT_FINDINGS} if the script ran without error but "
                             "retraced or re-created variables")
    parser.add_argument("script_command", metavar="command", nargs=argparse.REMAINDER,
                        help="the script's command line after `--`: python SCRIPT.py ARGS, "
                             "python -m MODULE ARGS, or SCRIPT.py ARGS")


def _target(command: list[str]) -> tuple[str, str, list[str]]:
    """("path" or "module", what to run, its sys.argv) from `python script.py ...` and the like."""
    words = command[1:] if command[:1] == ["--"] else list(command)
    if words and re.fullmatch(r"python[0-9.]*(\.exe)?", Path(words[0]).name):
        words = words[1:]
    if words[:1] == ["-m"] and len(words) > 1:
        return "module", words[1], [words[1], *words[2:]]
    if not words or words[0].startswith("-"):
        from tfreuse.core.errors import UserInputError

        raise UserInputError("expected `-- python SCRIPT.py ARGS`, `-- python -m MODULE ARGS` or "
                             f"`-- SCRIPT.py ARGS`, got {' '.join(command) or 'nothing'!r} "
                             "(Python options other than -m are not supported)")
    if not Path(words[0]).is_file():
        from tfreuse.core.errors import UserInputError

        raise UserInputError(f"no script at {words[0]}")
    return "path", words[0], words


def _run(kind: str, target: str, argv: list[str]) -> int:
    """Run the script as `python` would; its exit status (1 for an uncaught exception)."""
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    sys.argv = argv
    sys.path.insert(0, str(Path(target).resolve().parent) if kind == "path" else os.getcwd())
    try:
        if kind == "path":
            runpy.run_path(target, run_name="__main__")
        else:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        return 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        traceback.print_exc()
        return 130
    except BaseException:  # noqa: BLE001 - as python does with an uncaught exception: shown, status 1
        traceback.print_exc()
        return 1
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path


def _short(path: str) -> str:
    """A path relative to the current folder when it is inside it."""
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
    except ValueError:
        return path


def _chain(values: list[str]) -> str:
    if len(values) > SHOWN_VALUES:
        values = values[:SHOWN_VALUES - 1] + ["...", values[-1]]
    return " -> ".join(values)


def _without_address(text: str) -> str:
    return re.sub(r" at 0x[0-9a-f]+$", "", text)


def _function_lines(events: list[TraceEvent]) -> tuple[list[str], int]:
    """Summary lines for the traces, and how many were findings (retraces, repeated functions)."""
    by_definition: dict[tuple, list[TraceEvent]] = defaultdict(list)
    for event in events:
        site = (event.defined_at.file, event.defined_at.line) if event.defined_at else (event.function, 0)
        by_definition[site].append(event)
    lines, findings = [], 0
    for traced in by_definition.values():
        first = traced[0]
        where = f" ({_short(first.defined_at.file)}:{first.defined_at.line})" if first.defined_at else ""
        objects = max(event.function_objects for event in traced)
        retraces = [event for event in traced if event.retrace]
        again = objects - 1
        findings += len(retraces) + again
        heading = f"  `{first.function}`{where}: {len(traced)} trace(s)"
        if objects > 1:
            heading += f" of {objects} tf.function objects made from this one `def` ({again} after the first)"
        lines.append(heading + (f", {len(retraces)} retrace(s)" if retraces else ""))
        changes: dict[tuple[str, str], list] = defaultdict(list)
        for event in retraces:
            for change in event.changes:
                changes[(change.argument, change.what)].append(change)
            if not event.changes:
                changes[("", "context")].append(None)
        for (argument, what), seen in changes.items():
            if what == "context":
                lines.append(f"    {len(seen)} retrace(s) with no argument changed (another device, graph "
                             "or captured values)")
                continue
            values = [_without_address(seen[0].old)] + [_without_address(change.new) for change in seen]
            kind = f"a different {values[0].split(' ')[0]} object" if what == "object" else what
            lines.append(f"    `{argument}` ({kind}) changed {len(seen)} time(s): {_chain(values)}")
        if again:
            called = first.called_at[0] if first.called_at else None
            made = next((event.made_elsewhere for event in traced if event.made_elsewhere), None)
            places = ([f"made at {_short(made.file)}:{made.line}"] if made else []) + (
                [f"first called at {_short(called.file)}:{called.line}"] if called else [])
            lines.append("    a new tf.function is made each time" + (f" ({', '.join(places)})" if places else "")
                         + ": create it once, outside the loop")
    return lines, findings


_UNIQUE_SUFFIX = re.compile(r"_\d+$")


def _kind(variable: CreatedVariable) -> tuple:
    """A variable without Keras' unique numbering (`dense_3/kernel` -> `dense/kernel`)."""
    name = "/".join(_UNIQUE_SUFFIX.sub("", part) for part in variable.name.split("/"))
    return name, variable.shape, variable.dtype


def _variable_lines(creations: list[CreatedVariable]) -> tuple[list[str], int]:
    """Summary lines for variables made again by a line that had made the same kind before.

    The line is the owner's construction line when known (Keras builds a layer's weights on its
    first call, elsewhere): findings are grouped by it, with the lines that built them under it.
    """
    seen: set[tuple] = set()
    again: dict[SourceLine | None, list[CreatedVariable]] = defaultdict(list)
    for variable in creations:
        site = variable.site
        key = (site.location if site else "", *_kind(variable))
        if key in seen:
            again[site].append(variable)
        seen.add(key)
    lines = []
    for site, variables in sorted(again.items(), key=lambda item: -len(item[1])):
        classes = list(dict.fromkeys(v.owner_class for v in variables if v.constructed_at and v.owner_class))
        if site is None:
            lines.append("  outside user code")
        elif classes:
            lines.append(f"  {_short(site.file)}:{site.line} in {site.function} "
                         f"({', '.join(classes)} constructed here): {site.text}")
        else:
            lines.append(f"  {_short(site.file)}:{site.line} in {site.function}: {site.text}")
        by_build: dict[SourceLine | None, list[CreatedVariable]] = defaultdict(list)
        for variable in sorted(variables, key=lambda v: v.built_elsewhere):  # built at the site first
            by_build[variable.where[0] if variable.built_elsewhere else None].append(variable)
        for built, of_build in by_build.items():
            indent = "    " if built is None else "      "
            if built is not None:
                lines.append(f"    built at {_short(built.file)}:{built.line} in {built.function}: {built.text}")
            kinds: dict[tuple, int] = defaultdict(int)
            examples: dict[tuple, CreatedVariable] = {}
            for variable in of_build:
                kinds[_kind(variable)] += 1
                examples.setdefault(_kind(variable), variable)
            lines += [f"{indent}{count} x {examples[kind].describe()}" for kind, count in kinds.items()]
    return lines, sum(len(variables) for variables in again.values())


def _held_lines(before: Held | None, after: Held | None) -> list[str]:
    """What the script left open: descriptors and threads at exit beyond those before it."""
    if before is None or after is None:
        return []
    lines = []
    if None not in (before.descriptor_count, after.descriptor_count):
        opened = after.opened_since(before)
        shown = "".join(f"\n  {target}" for target in opened[:5]) + (
            f"\n  ... and {len(opened) - 5} more" if len(opened) > 5 else "")
        lines += ["", f"left open at exit: {after.descriptor_count - before.descriptor_count:+d} file "
                      f"descriptor(s) against before the script{shown}"]
    named = sorted(after.python_threads - before.python_threads)
    lines.append(f"threads at exit: {after.threads - before.threads:+d} against before the script"
                 + (f" (Python: {', '.join(named)})" if named else ""))
    return lines


def summary(command: str, status: int, events: list[TraceEvent], creations: list[CreatedVariable],
            memory_before: int | None, memory_after: int | None,
            held_before: Held | None = None, held_after: Held | None = None) -> tuple[str, int]:
    """The text printed at exit, and the number of findings in it."""
    function_lines, trace_findings = _function_lines(events)
    variable_lines, variable_findings = _variable_lines(creations)
    lines = [f"tfreuse watch: {command} (exit status {status})", ""]
    lines.append(f"tf.functions: {len({(e.defined_at, e.function) for e in events})} traced, "
                 f"{trace_findings} retrace(s) or repeated function(s)")
    lines += function_lines or ["  none traced"]
    lines += ["", f"variables: {len(creations)} created, {variable_findings} by a line that had "
                  "already created the same variable (name, shape, dtype) before"]
    lines += variable_lines
    if memory_before is None or memory_after is None:
        lines += ["", "memory kept: not read (psutil.heap_info or pymalloc statistics unavailable here)"]
    else:
        lines += ["", f"memory kept (bytes in use: C heap + pymalloc, after a garbage collection): "
                      f"{byte_size(memory_before, 'MiB')} before the script, {byte_size(memory_after, 'MiB')} after it "
                      f"({memory_after - memory_before:+,d} bytes)"]
    lines += _held_lines(held_before, held_after)
    findings = trace_findings + variable_findings
    lines += ["", f"findings: {findings}" + ("" if findings else " (nothing re-created)")]
    return "\n".join(lines), findings


def watch(command: list[str], fail_on_findings: bool = False) -> int:
    """Run `command` with the probes installed, print the summary to stderr; the exit status."""
    kind, target, argv = _target(command)
    from tfreuse.probes import memory, resources
    from tfreuse.probes.census import VariableWindow
    from tfreuse.probes.tracing import TraceLog

    with TraceLog() as traces, VariableWindow(sources=True) as variables:
        before, held_before = memory.retained_bytes(), resources.held()
        status = _run(kind, target, argv)
        after, held_after = memory.retained_bytes(), resources.held()
    text, findings = summary(" ".join(argv if kind == "path" else ["-m", *argv]), status,
                             traces.events, variables.creations, before, after, held_before, held_after)
    sys.stdout.flush()
    print("\n" + text, file=sys.stderr)
    if traces.errors:
        print(f"tfreuse watch: {len(traces.errors)} trace(s) could not be read: {traces.errors[0]}",
              file=sys.stderr)
    if status == 0 and fail_on_findings and findings:
        return EXIT_FINDINGS
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m tfreuse.tools.watch [--fail-on-findings] -- python SCRIPT.py ARGS`."""
    parser = argparse.ArgumentParser(prog="python -m tfreuse.tools.watch", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    from tfreuse.core.errors import UserInputError

    try:
        return watch(args.script_command, args.fail_on_findings)
    except UserInputError as exc:
        print(f"tfreuse watch: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
