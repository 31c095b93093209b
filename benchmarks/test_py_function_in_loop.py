"""Python functions in a loop: `tf.py_function` called eagerly every step, versus plain Python or one tf.function.

Called eagerly, `tf.py_function` registers its Python function anew at every call, and TF 2.21
keeps each registration: (1) the function's wrapper is appended to the default graph's
`_py_funcs_used_in_graph`, which in eager mode is never destroyed; (2) the call's
`EagerPyFunc` op carries a new `token` attribute, so the eager runtime caches a new kernel for
it (~37 KB here); (3) for a function made with `def`, each call's wrapper copies the function's
`__dict__` (`functools.wraps`), which holds the previous call's wrapper (`ag_dnc_wrapper__`),
so every wrapper stays reachable from the function itself. Inside a tf.function the registration
happens once, at the trace. `tf.numpy_function` called eagerly is, in TF 2.21, a plain call of
the function (`script_ops.py_func_common`), so it registers nothing. Reported in
tensorflow/tensorflow#35010 (a Keras layer calling `tf.py_function` in `call`: memory grows
linearly with eager calls), #51839 (`tf.py_function` in an eager `while` loop; a comment points
at `_py_funcs_used_in_graph`, another's fix was plain Python) and #35822 (TF 1.14:
`tf.reset_default_graph()` + `tf.keras.backend.clear_session()` cut the leak from a ~24 MB array
per call to ~600-700 KB, "but formally the leak is still there"; closed as a duplicate of #35010).

One step standardizes a 32x16 batch per column with NumPy (`standardize`, a `def`), then the
train step computes a loss from it with a weight made once (the batch and weight are made once).
- `shared`: `standardize` called as plain Python on the batch's array;
- `py_function_per_step`: `tf.py_function(standardize, ...)` called eagerly every step (timed);
- `numpy_function_per_step`: `tf.numpy_function(standardize, ...)` called eagerly every step;
- `mitigated_clear_session`: the eager `tf.py_function` call, then
  `tf.compat.v1.reset_default_graph()` and `keras.backend.clear_session()` every step (timed),
  the advice of #35822. `clear_session()` resets the default graph too, clears the eager kernel
  cache and runs `gc.collect()` (which walks only what the case made: the harness freezes the
  heap before each case); the chain of wrappers (3) stays. `reset_default_graph()` alone frees
  (1) only;
- `mitigated_in_tf_function`: `tf.py_function` inside the train step's tf.function, made once
  (function mode only); it still calls into Python every step, so it is judged on traces and
  memory, not on time against plain Python.

Modes: how the train step (the loss) runs: `eager` as Python, `function` as one tf.function made
once (`Context.compile`). The `tf.py_function` / `tf.numpy_function` calls of the per-step
variants stay outside it, in the loop, in both modes. None of the variants keeps threads or open
files, nor retraces the train step (`clear_session()` does not clear a tf.function's cache).
"""

import keras
import numpy as np
import tensorflow as tf

from tfreuse import Scenario, Variant, benchmark_test

MODE_PHRASES = {"eager": "with an eager train step", "function": "with a tf.function train step"}


def standardize(batch):
    """Each column to zero mean and unit variance, in NumPy (tf.py_function hands in a tensor)."""
    batch = np.asarray(batch)
    return ((batch - batch.mean(axis=0)) / (batch.std(axis=0) + 1e-6)).astype(np.float32)


class PyFunctionInLoop(Scenario):
    name = "py_function_in_loop"
    variants = {
        "shared": Variant.baseline("the NumPy step called as plain Python"),
        "py_function_per_step": "calling tf.py_function eagerly every step",
        "numpy_function_per_step": "calling tf.numpy_function eagerly every step",
        "mitigated_clear_session": Variant.fix(
            "tf.py_function called eagerly, then reset_default_graph() and clear_session(), every step",
            restores=("memory",)),
        "mitigated_in_tf_function": Variant.fix("tf.py_function inside the train step's tf.function",
                                                restores=("traces", "memory")),
    }
    modes = ("eager", "function")
    mode_phrases = MODE_PHRASES
    sizes = {"small": {"batch": 32, "features": 16, "units": 8}}
    skips = {("mitigated_in_tf_function", "eager"): "in eager mode there is no tf.function to call it "
                                                    "in: the eager call is py_function_per_step"}

    @staticmethod
    def _data(ctx):
        """The batch and `train_step(standardized)` as the mode runs it."""
        x = tf.random.normal((ctx.params["batch"], ctx.params["features"]))
        w = tf.Variable(tf.random.normal((ctx.params["features"], ctx.params["units"])))

        def train_step(standardized):
            return tf.reduce_mean(tf.square(standardized @ w))

        return x, ctx.compile(train_step)

    def shared(self, ctx):
        """`standardize` as plain Python on the batch's array, then the train step."""
        x, train_step = self._data(ctx)
        return lambda: train_step(tf.constant(standardize(x.numpy())))

    def py_function_per_step(self, ctx):
        """An eager `tf.py_function` call every step (timed: its registration too)."""
        x, train_step = self._data(ctx)
        return lambda: train_step(tf.py_function(standardize, [x], tf.float32))

    def numpy_function_per_step(self, ctx):
        """An eager `tf.numpy_function` call every step."""
        x, train_step = self._data(ctx)
        return lambda: train_step(tf.numpy_function(standardize, [x], tf.float32))

    def mitigated_clear_session(self, ctx):
        """The eager `tf.py_function` call, then `reset_default_graph()` and `clear_session()`
        (all timed)."""
        x, train_step = self._data(ctx)

        def step():
            loss = train_step(tf.py_function(standardize, [x], tf.float32))
            tf.compat.v1.reset_default_graph()
            keras.backend.clear_session()
            return loss

        return step

    def mitigated_in_tf_function(self, ctx):
        """`tf.py_function` inside the train step's tf.function: registered once, at its trace."""
        x = tf.random.normal((ctx.params["batch"], ctx.params["features"]))
        w = tf.Variable(tf.random.normal((ctx.params["features"], ctx.params["units"])))

        def train_step(x):
            standardized = tf.py_function(standardize, [x], tf.float32)
            standardized.set_shape(x.shape)  # unknown to the graph: a py_function's output has none
            return tf.reduce_mean(tf.square(standardized @ w))

        train_step = ctx.compile(train_step)
        return lambda: train_step(x)


test_py_function_in_loop = benchmark_test(PyFunctionInLoop())
