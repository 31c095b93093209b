"""`tfreuse measure package.module:factory`: the reuse variants of your layer, without writing a test.

The factory is checked first (importable, returns a Keras layer or model, runs on the input
shape), then a one-test pytest session runs it through the `reuse_benchmark` fixture, so the
figures and JSON are exactly those of the built-in scenarios.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import io
import os
import pkgutil
import re
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfreuse.core.errors import UserInputError, first_line
from tfreuse.core.units import interval_text, kib


class MeasureError(UserInputError):
    """The factory cannot be measured; the message names it and what went wrong."""


def parse_shape(text: str) -> tuple[int, ...]:
    """`32,128` -> (32, 128); raise MeasureError for anything but positive integers."""
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(n <= 0 for n in shape):
        raise MeasureError(f"--input-shape {text!r}: expected positive integers such as 32,128")
    return shape


def parse_target(target: str) -> tuple[str, str, tuple, dict]:
    """`pkg.mod:make` or `pkg.mod:Layer(64, activation="relu")` -> (module, name, args, kwargs).

    Arguments must be Python literals, so a class such as keras.layers.Dense can be measured
    without writing a factory.
    """
    module_name, _, expression = target.partition(":")
    if not module_name or not expression:
        raise MeasureError(f"{target!r}: expected package.module:factory or package.module:Layer(args)")
    try:
        tree = ast.parse(expression.strip(), mode="eval").body
        call = tree if isinstance(tree, ast.Call) else None
        name = ast.unparse(call.func if call else tree)
        if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", name):
            raise ValueError(name)
        args = tuple(ast.literal_eval(a) for a in call.args) if call else ()
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords} if call else {}
        if None in kwargs:
            raise ValueError("**kwargs")
    except (SyntaxError, ValueError):
        raise MeasureError(f"{target!r}: the part after ':' must be a name, or a call with literal "
                           "arguments such as Dense(64)") from None
    return module_name, name, args, kwargs


def load_factory(target: str) -> Callable[[], Any]:
    """Import the target (from the current folder too, as `python -m` would) as a factory."""
    module_name, name, args, kwargs = parse_target(target)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found: Any = pkgutil.resolve_name(f"{module_name}:{name}")
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's to fix
        raise MeasureError(f"cannot import {target!r}: {type(exc).__name__}: {exc}") from None
    if not callable(found):
        raise MeasureError(f"{target!r} is a {type(found).__name__}, not a callable factory")
    return functools.partial(found, *args, **kwargs)


def check_factory(target: str, factory: Callable[[], Any], shape: tuple[int, ...]) -> None:
    """Call the factory and its layer once, eagerly, so errors name the factory, not pytest."""
    import keras
    import tensorflow as tf

    try:
        layer = factory()
    except Exception as exc:  # noqa: BLE001
        raise MeasureError(f"{target}() failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(layer, keras.layers.Layer):
        raise MeasureError(f"{target}() returned a {type(layer).__name__}, not a Keras layer or model")
    try:
        layer(tf.random.normal(shape))
    except Exception as exc:  # noqa: BLE001
        raise MeasureError(f"{target}() fails on input shape {shape}: {type(exc).__name__}: "
                           f"{first_line(exc)}") from None


_TEST_TEMPLATE = '''
import functools
import pkgutil

import tensorflow as tf

factory = functools.partial(pkgutil.resolve_name({module!r} + ":" + {name!r}), *{args!r}, **{kwargs!r})


def loss(outputs):
    return tf.reduce_mean(tf.square(outputs))


def test_{test}(reuse_benchmark):
    reuse_benchmark(make_layer=factory, make_inputs=lambda: tf.random.normal({shape}),
                    loss={loss})
'''


def run(target: str, shape: tuple[int, ...], output: Path, train: bool = False,
        modes: str | None = None, devices: str | None = None, profile: str | None = None,
        processes: int = 1, pin: bool = True) -> int:
    """Check the factory, measure it with pytest, write the JSON to `output`; pytest's exit code.

    With `processes` K above 1 the test runs in K fresh processes (`tfreuse.commands.bench`), `output` is
    a folder of their JSON, and the figures' intervals span processes.
    """
    import pytest

    from tfreuse.core.atomic import atomic_write
    from tfreuse.engine.conditions import apply_thread_settings

    if processes < 1:
        raise MeasureError(f"--processes must be at least 1, not {processes}")
    if output.exists():
        raise MeasureError(f"{output} already exists; name another {'folder' if processes > 1 else 'file'} with -o")
    factory = load_factory(target)
    apply_thread_settings()  # before checking the factory starts TensorFlow, so the run gets them
    check_factory(target, factory, shape)
    module, attribute, args, kwargs = parse_target(target)
    name = re.sub(r"\W+", "_", attribute).strip("_").lower() or "layer"
    with tempfile.TemporaryDirectory(prefix="tfreuse-measure-") as folder:
        test_file = Path(folder) / f"test_{name}.py"
        test_file.write_text(textwrap.dedent(_TEST_TEMPLATE).format(
            module=module, name=attribute, args=args, kwargs=kwargs, test=name, shape=shape,
            loss="loss" if train else "None"))
        raw = Path(folder) / "results.json"
        options = ["--rootdir", folder, "--benchmark-sort", "name"]
        for option, value in (("modes", modes), ("devices", devices), ("profile", profile)):
            if value:
                options += [f"--tfreuse-{option}", value]
        if processes > 1:
            return _in_processes(test_file, output, processes, options, pin)
        arguments = [str(test_file), "-q", "-p", "no:cacheprovider", "--benchmark-json", str(raw), *options]
        log = io.StringIO()
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            status = int(pytest.main(arguments))
        if status != 0:
            print(log.getvalue()[-4000:], file=sys.stderr)
        if raw.exists() and raw.stat().st_size:
            atomic_write(output, raw.read_bytes())
    return status


def _in_processes(test_file: Path, output: Path, processes: int, options: list[str], pin: bool) -> int:
    """The generated test in `processes` fresh processes, their JSON in the new folder `output`."""
    from tfreuse.commands import bench

    output.mkdir(parents=True)
    runs = bench.run_processes([str(test_file)], output, processes, output.name, options, pin=pin,
                               cwd=Path.cwd(), say=lambda line: print(line, file=sys.stderr, flush=True),
                               name="tfreuse measure")
    failed = [run for run in runs if run.status != 0]
    for run in failed:
        print(run.json_path.with_suffix(".log").read_text(encoding="utf-8")[-4000:], file=sys.stderr)
    return failed[0].status if failed else 0


def table(path: Path) -> str:
    """A short text table of a measure run: one line per variant, mode and device."""
    import pandas as pd

    from tfreuse.report.analyze import analyze, interval_label
    from tfreuse.report.load import load

    rows = analyze(load([path]).rows).sort_values(["device", "mode", "variant"])
    label = interval_label(rows["processes"])
    lines = [f"{'variant':<15} {'mode':<9} {'device':<7} {'median':>11} {'ratio':>8} {'interval':>15} "
             f"{'traces/step':>11} {'kept/step':>11} {'vars/step':>9}"]
    for r in rows.itertuples():
        per_step = r.variables_created_per_step if pd.notna(r.variables_created_per_step) else 0
        span = interval_text(r.ratio_ci_low, r.ratio_ci_high, dash="-") if r.variant != "shared" else ""
        lines.append(f"{r.variant:<15} {r.mode:<9} {r.device:<7} {r.median * 1e3:>8.3f} ms "
                     f"{r.ratio:>7.2f}x {span:>15} {r.traces_per_step:>11.2g} "
                     f"{kib(r.retained_bytes_per_step):>11} {per_step:>9.2g}")
    note = ("" if rows["processes"].max() > 1 else
            " (the spread of one process's rounds; --processes 4 gives a 95% interval over fresh processes)")
    return "\n".join(lines + [f"interval: {label}{note}"])
