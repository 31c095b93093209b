"""Metrics in a loop: Keras metric objects (`keras.metrics.AUC()`, `keras.metrics.Mean()`) made every step, versus once.

A Keras metric is a small layer of state: `AUC()` makes four variables (true and false positives
and negatives at 200 thresholds) and `Mean()` two (total and count), in its constructor. Made per
step, to "start from zero" or to get one batch's value, that is new variables every step; a
compiled step given the new objects is traced again for each (a Python object is a cache key by
identity), and one that makes them inside its body is refused by tf.function. The fix keeps the
objects and calls `reset_state()`: once per epoch for an epoch's value, or before every batch for
a batch's value. A maintainer's answer in tensorflow/tensorflow#36250: for standalone use, call
`reset_state` between batches. tensorflow/tensorflow#44756: a `Mean` metric is not freed without
the garbage collector (it leaves reference cycles), so metrics made per step wait for the cycle
collector.

Memory a collection does not free: Keras gives each new `AUC()` a new name (`auc_1`, `auc_2`,
...; `Mean()` stays `mean`), and each variable made under a new name leaves about 36 KB in
TensorFlow's eager kernel cache (measured here: ~145 KB per `AUC()`, none per `Mean()`; a fixed
`name=` leaves nothing), which `keras.backend.clear_session()` empties. In function mode each new
object also keeps a traced graph in the function's cache (~1.6 MB a step here), which
`clear_session()` does not clear.

One step is one 32-row batch of an evaluation loop over 4 batches (an epoch): labels and a
classifier's scores go into an AUC and the batch's binary cross-entropy into a Mean; the step
returns both results. The update runs through one function made once (`Context.compile`: the
bare call in eager mode, one tf.function in function mode) that takes the metrics as arguments.
- `shared`: the two metrics made once; `reset_state()` at the start of every epoch, so each step
  reads the epoch's running values;
- `metric_per_step`: new metrics made every step (timed) and handed to the function;
- `metric_in_function`: the metrics made inside the function's body; tf.function refuses it
  (`ValueError`, variables made on a non-first call), recorded as the outcome;
- `mitigated_reset_state`: the metrics made once and `reset_state()` before every batch: the
  per-batch values `metric_per_step` gives, without new objects;
- `mitigated_reduce_retracing`: `metric_per_step` through a tf.function with
  `reduce_retracing=True`, the retracing warning's advice; it generalises shapes, not objects;
- `mitigated_clear_session`: `metric_per_step`, then `keras.backend.clear_session()`, the advice
  for memory that grows; it runs `gc.collect()`, so its steps take ~0.1-0.4 s here (the
  collection grows with the process's heap): essential, since that cost beside the memory it
  frees is the finding.

In eager mode there is no tf.function: `metric_in_function` would be `metric_per_step` itself and
there is no retracing to reduce, so those two run in function mode only. `mitigated_clear_session`
runs in eager mode only: what it frees (the kernel cache) is made outside any tf.function, and it
leaves the function mode's traced graphs in place. Not `jit`: a new object per step would be an
XLA compile per step.
"""

import itertools

import keras
import numpy as np
import tensorflow as tf

from tfreuse import Scenario, Step, Variant, benchmark_test

SCORES_SEED = 17


def _update(auc, mean, labels, scores):
    """One batch into the metrics; their results (the compiled body every variant shares)."""
    auc.update_state(labels, scores)
    mean.update_state(keras.losses.binary_crossentropy(labels, scores))
    return auc.result(), mean.result()


def _new_metrics():
    """A new AUC and a new Mean: six new variables."""
    auc = keras.metrics.AUC()
    mean = keras.metrics.Mean()
    return auc, mean


class MetricsInLoop(Scenario):
    name = "metrics_in_loop"
    variants = {
        "shared": Variant.baseline("one AUC and one Mean made once and reset every epoch"),
        "metric_per_step": "creating new keras.metrics objects every step",
        "metric_in_function": "creating new keras.metrics objects in the body of the step's function",
        "mitigated_reset_state": Variant.fix("metrics made once and reset_state() before every batch",
                                             restores=("time", "traces", "memory")),
        "mitigated_reduce_retracing": Variant.fix("new metric objects every step with reduce_retracing=True",
                                                  restores=("time", "traces")),
        "mitigated_clear_session": Variant.fix("new metric objects every step, then keras.backend.clear_session()",
                                               restores=("time", "memory")),
    }
    modes = ("eager", "function")
    sizes = {"small": {"batch": 32, "batches": 4}}
    expected_errors = {("metric_in_function", "function"): ValueError}
    skips = {
        ("metric_in_function", "eager"): "in eager mode the body is plain Python: it is the "
                                         "metric_per_step step itself",
        ("mitigated_reduce_retracing", "eager"): "in eager mode there is no tf.function, so no "
                                                 "retracing to reduce",
        ("mitigated_clear_session", "function"): "it clears no tf.function cache (where this mode's "
                                                 "memory goes) and costs 0.1-0.4 s a step: run once, "
                                                 "in eager mode",
    }

    @staticmethod
    def _batches(size):
        """The epoch's batches of (labels, scores), seeded: a classifier that ranks positives
        higher, with noise."""
        rng = np.random.default_rng(SCORES_SEED)
        rows = size["batch"] * size["batches"]
        labels = (rng.random((rows, 1)) < 0.4).astype("float32")
        scores = 1 / (1 + np.exp(-(2 * labels - 1 + rng.normal(size=(rows, 1)))))
        return [(tf.constant(labels[i:i + size["batch"]]), tf.constant(scores[i:i + size["batch"]], tf.float32))
                for i in range(0, rows, size["batch"])]

    def _loop(self, ctx, metrics_for_step, **tf_function_options) -> Step:
        """Each step: the next batch and `metrics_for_step(index)` through one function made once."""
        update = ctx.compile(_update, **tf_function_options)
        batches = itertools.cycle(self._batches(ctx.params))
        steps = itertools.count()

        def run():
            labels, scores = next(batches)
            auc, mean = metrics_for_step(next(steps))
            return update(auc, mean, labels, scores)

        return Step(run)

    def _kept(self, ctx, reset_every) -> Step:
        auc, mean = _new_metrics()

        def metrics(index):
            if index % reset_every == 0:
                auc.reset_state()
                mean.reset_state()
            return auc, mean

        return self._loop(ctx, metrics)

    def shared(self, ctx):
        """The metrics made once; `reset_state()` at every epoch's first batch."""
        return self._kept(ctx, ctx.params["batches"])

    def metric_per_step(self, ctx):
        """New metrics every step (timed: their variables, and in function mode a trace)."""
        return self._loop(ctx, lambda index: _new_metrics())

    def metric_in_function(self, ctx):
        """The metrics made inside the compiled body (refused by tf.function)."""
        def update_new(labels, scores):
            auc, mean = _new_metrics()
            return _update(auc, mean, labels, scores)

        update = ctx.compile(update_new)
        batches = itertools.cycle(self._batches(ctx.params))
        return Step(lambda: update(*next(batches)))

    def mitigated_reset_state(self, ctx):
        """The metrics made once; `reset_state()` before every batch."""
        return self._kept(ctx, 1)

    def mitigated_reduce_retracing(self, ctx):
        """New metrics every step, through a tf.function with `reduce_retracing=True`."""
        return self._loop(ctx, lambda index: _new_metrics(), reduce_retracing=True)

    def mitigated_clear_session(self, ctx):
        """`metric_per_step`, then `keras.backend.clear_session()` (timed: its gc.collect() too)."""
        step = self.metric_per_step(ctx)

        def run():
            result = step()
            keras.backend.clear_session()
            return result

        return Step(run)


test_metrics_in_loop = benchmark_test(MetricsInLoop())
