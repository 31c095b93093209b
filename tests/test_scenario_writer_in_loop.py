"""Deterministic outcomes of the writer_in_loop scenario: descriptors and threads each variant
keeps, the events files it opens, its traces, and what holds a writer's file in TF 2.21."""

import functools
import os
import tempfile
from pathlib import Path

import psutil
import pytest
import tensorflow as tf

from tfreuse.engine.harness import Case, Context

from benchmarks import test_writer_in_loop
from tests.fakes import SCENARIO_PROFILE, run_scenario

pytestmark = pytest.mark.slow  # every test writes summaries with real TensorFlow

SCENARIO = test_writer_in_loop.WriterInLoop()
PER_STEP = ["writer_per_step", "writer_per_step_kept", "mitigated_close_each"]


@functools.cache
def run(variant, mode):
    return run_scenario(SCENARIO, variant, mode)


@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("variant, descriptors", [("shared", 0.0), ("writer_per_step", 0.0),
                                                  ("writer_per_step_kept", 1.0), ("mitigated_close_each", 0.0)])
def test_only_a_writer_kept_open_keeps_a_descriptor_per_step(variant, descriptors, mode):
    assert run(variant, mode)["descriptors_per_step"] == descriptors


@pytest.mark.parametrize("variant", ["shared", *PER_STEP])
def test_a_writer_starts_no_thread(variant):
    assert run(variant, "eager")["threads_per_step"] == 0.0


@pytest.mark.parametrize("variant", PER_STEP)
def test_a_new_writer_passed_to_the_tf_function_is_a_new_trace_every_step(variant):
    record = run(variant, "function")
    assert record["trace_events"] == record["tracing_cache_delta"] == SCENARIO_PROFILE.rounds
    assert record["traces_per_step"] == 1.0


def test_one_writer_is_traced_once():
    record = run("shared", "function")
    assert (record["first_step_trace_events"], record["trace_events"]) == (1, 0)


def _events_files(folder: Path) -> set[str]:
    return {str(path) for path in folder.rglob("events.out.tfevents.*")}


def _open_files_under(folder: Path) -> set[str]:
    return {entry.path for entry in psutil.Process().open_files() if entry.path.startswith(str(folder))}


@pytest.mark.parametrize("variant, files, open_after", [("shared", 1, 1), ("writer_per_step", 3, 0),
                                                        ("writer_per_step_kept", 3, 3),
                                                        ("mitigated_close_each", 3, 0)])
def test_each_writer_opens_an_events_file_of_its_own_held_while_the_writer_is_open(variant, files, open_after):
    before = _events_files(SCENARIO.folder)
    ctx = Context(Case(SCENARIO.name, variant, "eager", "CPU:0", "small"), SCENARIO.sizes["small"], SCENARIO_PROFILE)
    step = SCENARIO.make_step(ctx)
    for _ in range(3):
        assert bool(step())  # the scalar was written
    made = _events_files(SCENARIO.folder) - before
    assert len(made) == files
    assert len(_open_files_under(SCENARIO.folder) & made) == open_after


def test_deleting_a_writer_closes_its_file():
    folder = Path(tempfile.mkdtemp())
    writer = tf.summary.create_file_writer(str(folder))
    (events,) = _events_files(folder)
    assert events in _open_files_under(folder)
    del writer
    assert _open_files_under(folder) == set()
    assert os.path.getsize(events) > 0


def test_a_tf_function_reading_the_default_writer_keeps_the_one_it_was_traced_with():
    folder = Path(tempfile.mkdtemp())

    @tf.function
    def log(step):
        return tf.summary.write("x", 1.0, step=step)

    first = tf.summary.create_file_writer(str(folder / "first"))
    with first.as_default():
        log(tf.constant(0, tf.int64))
    second = tf.summary.create_file_writer(str(folder / "second"))
    with second.as_default():
        log(tf.constant(1, tf.int64))  # not traced again: written into `first`
    first.flush()
    second.flush()
    assert log.experimental_get_tracing_count() == 1
    sizes = {path.parent.name: path.stat().st_size for path in folder.rglob("events.out.tfevents.*")}
    assert sizes["first"] > sizes["second"]
    first.close()
    with second.as_default(), pytest.raises(tf.errors.NotFoundError, match="SummaryWriterInterface"):
        log(tf.constant(2, tf.int64))
