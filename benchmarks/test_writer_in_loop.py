"""Writer in a loop: a summary writer made for every step (or fit), versus one writer reused.

`tf.summary.create_file_writer(logdir)` opens a new events file in `logdir` and holds it open
until the writer is closed or deleted. Made per step (per trial, per `fit`) and kept, each
holds a file descriptor until the process runs out of them. Reported in keras-team/keras#6774
(Keras 2.0.4: "For every loop a new writer is created", the process hit the maximum of file
descriptors), tensorflow/tensorflow#20606 (many `tf.estimator` trainings in one script: "too
many open files", the events files stay open) and, for threads, #4820 (TF 1.x: each
`FileWriter` started a logging thread that `close()` did not stop).

In TensorFlow 2.21 (checked by this scenario's tests) a writer starts no thread, and deleting
the writer object closes its file: a writer made per step and dropped keeps no descriptor, but
still creates one new events file per step (and its write) and, passed to a tf.function, one new
trace per step. The descriptors leak while something keeps the writer (a list of runs, a
trainer or callback object kept for later).

Summaries go to a temporary folder made once per process; each case writes into a folder of its
own (made outside the timer). One step writes one scalar (the step number a tensor).
- `shared`: one writer made once; each step writes to it (entering its `as_default()`, as a loop
  inside `with writer.as_default():` would once);
- `writer_per_step`: `tf.summary.create_file_writer(logdir)` inside the step, never closed,
  dropped when the step returns (timed: the writer, its new events file, the write);
- `writer_per_step_kept`: the same, each writer kept in a list: one open descriptor per step;
- `mitigated_close_each`: a writer per step, kept as above, but closed after its write (the fix
  users are told): the descriptors are released; the new file per step and its cost stay.
Not here: a new `keras.callbacks.TensorBoard` per `fit`: its scalars need the `tensorboard`
package, which `tensorflow` 2.21 does not install (`tf.summary.scalar` raises
TBNotInstalledError without it), and a `fit` per step costs ~100x this scenario's step.

Mode is how the scalar is written: `eager` calls `tf.summary.write` directly; `function` through
one tf.function made at start-up (`Context.compile`) that takes the writer as an argument, so
every new writer object is a new trace. (A tf.function that reads the default writer instead
captures the one it was traced with: later writers are ignored, and once that writer is closed
or deleted the call fails with NotFoundError.) Not `jit`: summary ops do not compile with XLA.
Descriptors and threads kept per step are the record's `descriptors_per_step` and
`threads_per_step`.
"""

import itertools
import tempfile
from pathlib import Path

import tensorflow as tf

from tfreuse import Scenario, Variant, benchmark_test

TAG = "loss"


def _write(writer, value, step):
    """One scalar into `writer` (a tf.function in function mode: `writer` is an argument)."""
    with writer.as_default():
        return tf.summary.write(TAG, value, step=step)


class WriterInLoop(Scenario):
    name = "writer_in_loop"
    variants = {
        "shared": Variant.baseline("one summary writer made once and written by every step"),
        "writer_per_step": "creating a summary writer every step and never closing it",
        "writer_per_step_kept": "creating a summary writer every step and keeping it open",
        "mitigated_close_each": Variant.fix("a summary writer made every step and closed after its write",
                                            restores=("descriptors",)),
    }
    modes = ("eager", "function")
    sizes = {"small": {"scalars_per_step": 1}}

    def __init__(self):
        self._folder = tempfile.TemporaryDirectory(prefix="tfreuse-summaries-")
        self.folder = Path(self._folder.name)

    def _logging(self, ctx):
        """A folder of the case's own, the write compiled for the mode, the scalar, and the step
        numbers (each a new tensor)."""
        logdir = tempfile.mkdtemp(prefix=f"{ctx.case.id}-", dir=self.folder)
        steps = itertools.count()
        return logdir, ctx.compile(_write), tf.constant(0.5), lambda: tf.constant(next(steps), tf.int64)

    def shared(self, ctx):
        """One writer, made once (closed when the run drops it)."""
        logdir, write, value, step_number = self._logging(ctx)
        writer = tf.summary.create_file_writer(logdir)

        def step():
            return write(writer, value, step_number())

        return step

    def writer_per_step(self, ctx):
        """A new writer per step, never closed, dropped when the step returns (timed)."""
        logdir, write, value, step_number = self._logging(ctx)

        def step():
            writer = tf.summary.create_file_writer(logdir)
            return write(writer, value, step_number())

        return step

    def writer_per_step_kept(self, ctx):
        """A new writer per step, never closed, kept in a list (timed)."""
        logdir, write, value, step_number = self._logging(ctx)
        writers = []

        def step():
            writer = tf.summary.create_file_writer(logdir)
            writers.append(writer)
            return write(writer, value, step_number())

        return step

    def mitigated_close_each(self, ctx):
        """A new writer per step, kept in a list, closed after its write (timed)."""
        logdir, write, value, step_number = self._logging(ctx)
        writers = []

        def step():
            writer = tf.summary.create_file_writer(logdir)
            writers.append(writer)
            written = write(writer, value, step_number())
            writer.close()
            return written

        return step


test_writer_in_loop = benchmark_test(WriterInLoop())
