"""Dataset in a loop: a tf.data pipeline or iterator made again every step, versus one iterator.

`next(iter(dataset))` every step, or a pipeline rebuilt every step, pays for a new iterator each
time (a shuffle buffer refilled, prefetch threads started and stopped) and, worse for learning,
reads only the first batch of a fresh iterator: never past the first shuffle window. A
`Dataset.from_generator` pipeline rebuilt every step also keeps three Python functions per
pipeline alive on TensorFlow's default graph (`_py_funcs_used_in_graph`, with the generator's
state), which no `gc.collect()` frees: ~6 KB a step here, within the report's 16 KB tolerance,
and more when the generator's closure holds data. Reported in tensorflow/tensorflow#20436
(`next(iter(data))` over a pipeline rebuilt per call, memory grows, `gc.collect()` has no
effect), #35049 (a `tf.data` pipeline re-made every epoch, in graph mode, until the process runs
out of memory), #44176 (a new iterator over a shuffled dataset every epoch; the old shuffle
buffer not released) and #37653 (`from_generator` made in a loop; the thread's
per-100-iterations object count grows by one `_GeneratorState` and five functions per
pipeline). tensorflow/tensorflow#123269 measures ~128 MB over 500 `from_generator` pipelines on
TF 2.20; its fix (tensorflow/tensorflow#123530) is not in TF 2.21, whose
`script_ops._internal_py_func` still appends every function to the outermost graph.

The data (1024 rows of 16 features, seeded) and a weight are made once. One step reads one batch
of 32 rows through an iterator and computes a loss from it: `train_step(iterator)` calls
`next(iterator)` and returns the batch with its loss (so tests can see which rows a step read).
- `shared`: `from_tensor_slices(rows).shuffle(256).batch(32).prefetch(2).repeat()` made once,
  one iterator made once, passed to every step;
- `iterator_per_step`: the same pipeline made once; a new iterator every step (timed);
- `iterator_in_function`: the pipeline made once and captured by the train step's tf.function,
  which makes a new iterator inside it every call (function mode only);
- `pipeline_per_step`: the pipeline and its iterator built every step (timed);
- `generator_per_step`: `Dataset.from_generator(batches).prefetch(2)` and its iterator built
  every step (timed), the generator yielding the 32-row batches of the data in order;
- `mitigated_gc_collect`: the same, then `gc.collect()` (timed; the harness freezes the heap
  before each case, so this collection walks only what the case made, not the ~0.2 s a full
  collection takes with TensorFlow loaded);
- `mitigated_cleanup_class`: the same, through the `TfDataset` helper class users share from
  #37653, whose `cleanup()` (timed, every step) removes the functions its `from_generator` added
  to the default graph;
- `mitigated_generator_once`: the real fix: one `from_generator` pipeline with `.repeat()` and one
  iterator. It still calls the generator once per batch, a cost of the source (one Python call)
  that `shared` does not have, so it is judged on memory only.

Modes: how the train step runs: `eager` calls it as Python, `function` as one tf.function made
once (`Context.compile`), which takes the iterator as an argument (a new iterator of the same
spec does not retrace) and calls `next` inside. `iterator_in_function` exists only in function
mode; `mitigated_gc_collect` and `mitigated_cleanup_class`, acting on the Python loop the same
way in both modes at ~40 ms a step, run in eager mode only.

Threads and descriptors: a live iterator of these pipelines holds threads (4 each here), but
each per-step iterator is dropped with its step, so none of these variants keeps threads or open
files per step (`threads_per_step`, `descriptors_per_step`); `from_generator` keeps none either
in TF 2.21. tf.data traces the functions of each new
`from_generator` pipeline outside the tracing hook, so `traces_per_step` reads 0 for it.
"""

import gc

import numpy as np
import tensorflow as tf

from tfreuse import Scenario, Variant, benchmark_test

DATA_SEED = 11
MODE_PHRASES = {"eager": "with an eager train step", "function": "with a tf.function train step"}


class TfDataset:
    """The cleanup helper users share from tensorflow/tensorflow#37653 (credited there to
    kkimdev): `from_generator` notes the functions it adds to the default graph's
    `_py_funcs_used_in_graph`, `cleanup()` removes them. As shared, with `output_signature`
    passed through instead of the deprecated `output_types`/`output_shapes`."""

    def __init__(self):
        self.py_func_set_to_cleanup = set()

    def from_generator(self, generator, **kwargs):
        graph = tf.compat.v1.get_default_graph()
        if not hasattr(graph, "_py_funcs_used_in_graph"):
            graph._py_funcs_used_in_graph = []  # noqa: SLF001 - the helper's own, as shared
        py_func_set_before = set(graph._py_funcs_used_in_graph)  # noqa: SLF001
        result = tf.data.Dataset.from_generator(generator, **kwargs)
        self.py_func_set_to_cleanup |= set(graph._py_funcs_used_in_graph) - py_func_set_before  # noqa: SLF001
        return result

    def cleanup(self):
        graph = tf.compat.v1.get_default_graph()
        kept = set(graph._py_funcs_used_in_graph) - self.py_func_set_to_cleanup  # noqa: SLF001
        graph._py_funcs_used_in_graph = list(kept)  # noqa: SLF001
        self.py_func_set_to_cleanup = set()


def data_rows(size) -> np.ndarray:
    """The data every variant reads: `rows` x `features`, seeded."""
    return np.random.default_rng(DATA_SEED).normal(size=(size["rows"], size["features"])).astype(np.float32)


class DatasetInLoop(Scenario):
    name = "dataset_in_loop"
    variants = {
        "shared": Variant.baseline("one iterator over a repeated pipeline, made once"),
        "iterator_per_step": "making a new iterator over the dataset every step",
        "iterator_in_function": "making a new iterator inside the train step's tf.function every step",
        "pipeline_per_step": "rebuilding the tf.data pipeline and its iterator every step",
        "generator_per_step": "rebuilding a Dataset.from_generator pipeline every step",
        # The leak of a rebuilt from_generator pipeline is a few KB a step here, under the
        # readings' tolerance, so memory alone could not fail these: they are judged on time too.
        "mitigated_gc_collect": Variant.fix("a from_generator pipeline rebuilt every step, then gc.collect()",
                                            restores=("time", "memory")),
        "mitigated_cleanup_class": Variant.fix(
            "a from_generator pipeline rebuilt every step through the cleanup class of tensorflow#37653",
            restores=("time", "memory")),
        "mitigated_generator_once": Variant.fix("one from_generator pipeline, repeated, with one iterator",
                                                restores=("memory",)),
    }
    modes = ("eager", "function")
    mode_phrases = MODE_PHRASES
    sizes = {"small": {"rows": 1024, "features": 16, "batch": 32, "shuffle_buffer": 256, "units": 8}}
    _EAGER_ONLY = ("the mitigation acts on the Python loop, outside the train step, the same way in "
                   "both modes; at ~40 ms a step its function-mode row would repeat the eager one")
    skips = {
        ("iterator_in_function", "eager"): "in eager mode a new iterator inside the train step is "
                                           "iterator_per_step itself (no tf.function to make it in)",
        ("mitigated_gc_collect", "function"): _EAGER_ONLY,
        ("mitigated_cleanup_class", "function"): _EAGER_ONLY,
    }

    @staticmethod
    def _pipeline(rows, size) -> tf.data.Dataset:
        """The in-memory pipeline: shuffled rows in batches, prefetched."""
        return (tf.data.Dataset.from_tensor_slices(rows).shuffle(size["shuffle_buffer"])
                .batch(size["batch"]).prefetch(2))

    @staticmethod
    def _generator(rows, size):
        """A generator function yielding the data's batches in order (one Python call per batch)."""
        def batches():
            for start in range(0, len(rows), size["batch"]):
                yield rows[start:start + size["batch"]]
        return batches

    @staticmethod
    def _signature(size) -> tf.TensorSpec:
        return tf.TensorSpec((None, size["features"]), tf.float32)

    def _train_step(self, ctx):
        """The data, and `train_step(iterator)` as the mode runs it: the next batch and its loss."""
        rows = data_rows(ctx.params)
        w = tf.Variable(tf.random.normal((ctx.params["features"], ctx.params["units"])))

        def train_step(iterator):
            batch = next(iterator)
            return batch, tf.reduce_mean(tf.square(batch @ w))

        return rows, ctx.compile(train_step)

    def shared(self, ctx):
        """One pipeline, repeated, and one iterator, both made once."""
        rows, train_step = self._train_step(ctx)
        iterator = iter(self._pipeline(rows, ctx.params).repeat())
        return lambda: train_step(iterator)

    def iterator_per_step(self, ctx):
        """A new iterator over the pipeline made once, every step (timed)."""
        rows, train_step = self._train_step(ctx)
        dataset = self._pipeline(rows, ctx.params)
        return lambda: train_step(iter(dataset))

    def iterator_in_function(self, ctx):
        """The pipeline made once, captured by the train step's tf.function, which makes a new
        iterator at every call."""
        rows = data_rows(ctx.params)
        w = tf.Variable(tf.random.normal((ctx.params["features"], ctx.params["units"])))
        dataset = self._pipeline(rows, ctx.params)

        def train_step():
            batch = next(iter(dataset))
            return batch, tf.reduce_mean(tf.square(batch @ w))

        return ctx.compile(train_step)

    def pipeline_per_step(self, ctx):
        """The pipeline and its iterator built every step (timed)."""
        rows, train_step = self._train_step(ctx)
        return lambda: train_step(iter(self._pipeline(rows, ctx.params)))

    def _from_generator(self, rows, size) -> tf.data.Dataset:
        return tf.data.Dataset.from_generator(self._generator(rows, size),
                                              output_signature=self._signature(size)).prefetch(2)

    def generator_per_step(self, ctx):
        """A `from_generator` pipeline and its iterator built every step (timed)."""
        rows, train_step = self._train_step(ctx)
        return lambda: train_step(iter(self._from_generator(rows, ctx.params)))

    def mitigated_gc_collect(self, ctx):
        """A `from_generator` pipeline built every step, then `gc.collect()` (all timed)."""
        rows, train_step = self._train_step(ctx)

        def step():
            result = train_step(iter(self._from_generator(rows, ctx.params)))
            gc.collect()
            return result

        return step

    def mitigated_cleanup_class(self, ctx):
        """A `from_generator` pipeline built every step through `TfDataset`, then its `cleanup()`
        (all timed; the helper made once)."""
        rows, train_step = self._train_step(ctx)
        helper = TfDataset()

        def step():
            dataset = helper.from_generator(self._generator(rows, ctx.params),
                                            output_signature=self._signature(ctx.params))
            result = train_step(iter(dataset.prefetch(2)))
            helper.cleanup()  # after the step's iterator is gone: it calls those functions
            return result

        return step

    def mitigated_generator_once(self, ctx):
        """One `from_generator` pipeline, repeated, and one iterator, both made once."""
        rows, train_step = self._train_step(ctx)
        iterator = iter(self._from_generator(rows, ctx.params).repeat())
        return lambda: train_step(iterator)


test_dataset_in_loop = benchmark_test(DatasetInLoop())
