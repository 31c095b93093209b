"""Deterministic outcomes of the dataset_in_loop scenario: which rows each variant reads, what a
from_generator pipeline leaves on the default graph, and the threads, descriptors, traces and
variables each keeps per step."""

import functools

import pytest
import tensorflow as tf

from tfreuse.engine.harness import Case, Context
from tfreuse.probes import resources

from benchmarks import test_dataset_in_loop
from tests.fakes import SCENARIO_PROFILE, run_scenario

pytestmark = pytest.mark.slow  # every test steps the scenario's variants with real TensorFlow

SCENARIO = test_dataset_in_loop.DatasetInLoop()
SIZE = SCENARIO.sizes["small"]
EPOCH_STEPS = SIZE["rows"] // SIZE["batch"]  # 32 batches of 32 rows: one epoch, each row once
# A fresh iterator's first batch is drawn from a shuffle buffer filled with the first rows: it
# can hold no row past the buffer plus the batch's other draws.
FIRST_WINDOW = SIZE["shuffle_buffer"] + SIZE["batch"] - 1

RUNS = [(c.variant, c.mode) for c in SCENARIO.cases(["CPU:0"]) if SCENARIO.skip_reason(c.variant, c.mode) is None]


@functools.cache
def run(variant, mode):
    return run_scenario(SCENARIO, variant, mode)


def make_step(variant, mode):
    tf.random.set_seed(SCENARIO_PROFILE.seed)
    case = Case(SCENARIO.name, variant, mode, "CPU:0", "small")
    return SCENARIO.make_step(Context(case, SIZE, SCENARIO_PROFILE))


def rows_read(variant, mode, steps=EPOCH_STEPS):
    """The data's row numbers each of `steps` steps read, in order."""
    step = make_step(variant, mode)
    index = {row.tobytes(): number for number, row in enumerate(test_dataset_in_loop.data_rows(SIZE))}
    return [[index[row.tobytes()] for row in step()[0].numpy()] for _ in range(steps)]


def functions_on_default_graph() -> int:
    """Python functions TensorFlow's default graph keeps alive for tf.py_function/numpy_function
    (`_py_funcs_used_in_graph`, private: where `script_ops._internal_py_func` appends them)."""
    return len(getattr(tf.compat.v1.get_default_graph(), "_py_funcs_used_in_graph", []))


@pytest.mark.parametrize("variant, mode", [("shared", "eager"), ("shared", "function"),
                                           ("mitigated_generator_once", "eager"),
                                           ("mitigated_generator_once", "function")])
def test_one_iterator_reads_every_row_once_an_epoch(variant, mode):
    read = [number for batch in rows_read(variant, mode) for number in batch]
    assert sorted(read) == list(range(SIZE["rows"]))


@pytest.mark.parametrize("variant, mode", [("iterator_per_step", "eager"), ("iterator_per_step", "function"),
                                           ("iterator_in_function", "function"),
                                           ("pipeline_per_step", "eager"), ("pipeline_per_step", "function")])
def test_a_fresh_shuffled_iterator_never_reads_past_the_first_shuffle_window(variant, mode):
    read = {number for batch in rows_read(variant, mode) for number in batch}
    assert max(read) < FIRST_WINDOW


@pytest.mark.parametrize("variant, mode", [("generator_per_step", "eager"), ("generator_per_step", "function"),
                                           ("mitigated_gc_collect", "eager"),
                                           ("mitigated_cleanup_class", "eager")])
def test_a_fresh_generator_pipeline_reads_the_first_batch_every_step(variant, mode):
    assert rows_read(variant, mode, steps=5) == [list(range(SIZE["batch"]))] * 5


@pytest.mark.parametrize("variant, kept_per_step", [("generator_per_step", 3), ("mitigated_gc_collect", 3),
                                                    ("mitigated_cleanup_class", 0),
                                                    ("mitigated_generator_once", 0), ("shared", 0),
                                                    ("pipeline_per_step", 0)])
def test_every_from_generator_pipeline_leaves_three_functions_on_the_default_graph(variant, kept_per_step):
    # Its init, next and finalize functions; gc.collect() cannot free them (the graph holds
    # them), the cleanup class removes them.
    step = make_step(variant, "eager")
    step()
    before = functions_on_default_graph()
    for _ in range(4):
        step()
    assert functions_on_default_graph() - before == 4 * kept_per_step


def test_a_live_iterator_holds_threads_so_the_probe_would_see_them_kept():
    dataset = SCENARIO._pipeline(test_dataset_in_loop.data_rows(SIZE), SIZE)
    before = resources.threads()
    held = [iter(dataset) for _ in range(3)]
    for iterator in held:
        next(iterator)
    assert resources.threads() - before >= len(held)


@pytest.mark.parametrize("variant, mode", RUNS)
def test_no_variant_keeps_threads_or_open_files_per_step(variant, mode):
    record = run(variant, mode)
    assert (record["threads_per_step"], record["descriptors_per_step"]) == (0.0, 0.0)


@pytest.mark.parametrize("variant, mode", RUNS)
def test_no_variant_retraces_or_makes_variables(variant, mode):
    # A new iterator of the same spec passed to the train step's tf.function does not retrace;
    # tf.data traces a new from_generator pipeline's functions outside the tracing hook.
    record = run(variant, mode)
    assert record["first_step_trace_events"] == (1 if mode == "function" else 0)
    assert (record["trace_events"], record["variables_created"]) == (0, 0)
