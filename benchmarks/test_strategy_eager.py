"""Strategy run eagerly: `strategy.run(step_fn)` called from plain Python every training step.

Called outside a tf.function, `MirroredStrategy.run` executes the replica function eagerly on a
Python thread per replica, started and joined on every call (TensorFlow warns: "Using
MirroredStrategy eagerly has significant overhead currently"), where inside one tf.function
the whole distributed step is one graph call. Reported in tensorflow/tensorflow#27195 (1000
steps on a GPU: 63.6 s for the strategy without tf.function, 2.6 s with it, 7.2 s without a
strategy; TensorFlow's developers answer that the tf.function path is the one made fast first).
In tensorflow/tensorflow#30855 a user quotes that
warning and finds MirroredStrategy runs its replicas in parallel only when the function given to
strategy.run is a tf.function, not eagerly nor with tf.function on parts of the model (TF 2.0):
the `mitigated_function_step_fn` measured here. In tensorflow/tensorflow#60236 (training with
MirroredStrategy hangs under eager execution) a reply tells the user to wrap the step in
tf.function and to remove `tf.config.run_functions_eagerly(True)`.

One step is one SGD step of a linear regression whose weight is a MirroredVariable, through a
`MirroredStrategy` with one replica on the case's device (this machine has one CPU device and no
GPU; TensorFlow takes the same eager path for one replica as for several), then the replicas'
losses averaged with `strategy.reduce`. Inside the timer: the whole distributed step.
- `shared`: the distributed step (strategy.run and reduce) compiled once through
  `Context.compile`: one tf.function made once in function mode; in eager mode the same step
  called eagerly, which is the eager path users take;
- `eager_run`: the distributed step called from plain Python in every mode; in eager mode that is
  the `shared` step itself, so it runs in function mode only, against the compiled step;
- `function_per_step`: `tf.function(distributed step)` made and called in every step: a trace
  every step (the same code in either mode, so it runs in function mode only);
- `functions_run_eagerly`: the compiled step with `tf.config.run_functions_eagerly(True)` (left on
  after debugging): the tf.function runs its Python body eagerly every step. The switch is turned
  on around each call and put back after it (a process-wide switch must not outlive the case);
  in eager mode there is no tf.function for it to undo, so it runs in function mode only;
- `mitigated_function_step_fn`: only the replica function decorated with `tf.function` (made
  once), strategy.run and reduce still called from Python: TensorFlow 2.21 lifts such a run into
  one tf.function of its own (`mirrored_run.call_for_each_replica`); the reduce stays eager.

Every variant trains the same weight from the same start (`learning_steps`): none re-creates
state, so each should keep all of `shared`'s learning. The eager path's replica threads are
joined on every call: no variant keeps a thread (`threads_per_step`) or a file descriptor.
"""

import functools

import tensorflow as tf

from tfreuse import Scenario, Step, Variant, benchmark_test

LEARNING_RATE = 0.1
SAME_IN_BOTH_MODES = ("it makes its own tf.function whatever the mode: the same code runs in "
                      "function mode, against the compiled shared step")


@functools.cache
def _strategy(device: str) -> tf.distribute.MirroredStrategy:
    """One MirroredStrategy per device for the process, with one replica on `device`."""
    return tf.distribute.MirroredStrategy([device])


def _regression(size):
    """Seeded data for `y = x @ w_true`."""
    x = tf.random.normal((size["batch"], size["features"]))
    y = x @ tf.random.normal((size["features"], 1))
    return x, y


class _Training:
    """A MirroredVariable weight made in the strategy's scope, its replica step and its loss.

    With `counted`, the replica step counts its traces (`Context.trace_counter`): for the variants
    whose tf.functions are not made by `Context.compile`, which counts its own.
    """

    def __init__(self, ctx, counted: bool = False):
        self.strategy = _strategy(ctx.case.device)
        self.x, self.y = _regression(ctx.params)
        with self.strategy.scope():
            # MEAN: the replicas' updates are averaged when the weight is assigned in replica context.
            self.weight = tf.Variable(tf.zeros((ctx.params["features"], 1)),
                                      aggregation=tf.VariableAggregation.MEAN)
        self.counter = ctx.trace_counter() if counted else None

    def loss(self, x, y):
        return tf.reduce_mean(tf.square(x @ self.weight - y))

    def replica_step(self, x, y):
        """One SGD step on one replica (what `strategy.run` runs)."""
        if self.counter is not None:
            self.counter.count()
        with tf.GradientTape() as tape:
            loss = self.loss(x, y)
        self.weight.assign_sub(LEARNING_RATE * tape.gradient(loss, self.weight))
        return loss

    def distributed_step(self, x, y):
        """strategy.run of the replica step, and the replicas' losses averaged."""
        per_replica = self.strategy.run(self.replica_step, args=(x, y))
        return self.strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)

    def step(self, run) -> Step:
        """`run(x, y)` as the variant's step, with the loss on the data as its evaluation."""
        return Step(lambda: run(self.x, self.y), evaluate=lambda: {"loss": float(self.loss(self.x, self.y))})


class StrategyEager(Scenario):
    name = "strategy_eager"
    variants = {
        "shared": Variant.baseline("the distributed train step compiled once"),
        "eager_run": "calling strategy.run from plain Python every step",
        "function_per_step": "wrapping strategy.run in a new tf.function every step",
        "functions_run_eagerly": "running a tf.function train step under tf.config.run_functions_eagerly(True)",
        "mitigated_function_step_fn": Variant.fix("strategy.run called from Python with a tf.function replica step"),
    }
    # The mode is how `shared` runs its step; the anti-patterns run eagerly (or retrace) whatever it is.
    mode_phrases = {"eager": "where the shared step runs eagerly",
                    "function": "where the shared step is one tf.function"}
    modes = ("eager", "function")
    sizes = {"small": {"batch": 32, "features": 16}}
    skips = {
        ("eager_run", "eager"): "in eager mode the shared step is itself strategy.run called eagerly",
        ("function_per_step", "eager"): SAME_IN_BOTH_MODES,
        ("functions_run_eagerly", "eager"): "in eager mode there is no tf.function for the switch to "
                                            "run eagerly: the shared step is already eager",
    }
    learning_steps = 10

    def shared(self, ctx):
        """The distributed step through `Context.compile`, made once."""
        training = _Training(ctx)
        return training.step(ctx.compile(training.distributed_step))

    def eager_run(self, ctx):
        """strategy.run and reduce called from Python every step (eager replica threads timed)."""
        training = _Training(ctx, counted=True)
        return training.step(training.distributed_step)

    def function_per_step(self, ctx):
        """A new tf.function around the distributed step, made and called in every step (its trace timed)."""
        training = _Training(ctx, counted=True)
        return training.step(lambda x, y: tf.function(training.distributed_step)(x, y))

    def functions_run_eagerly(self, ctx):
        """The compiled step called with `run_functions_eagerly(True)` on (the switching timed too)."""
        training = _Training(ctx)
        compiled = ctx.compile(training.distributed_step)

        def run(x, y):
            was_eager = tf.config.functions_run_eagerly()
            tf.config.run_functions_eagerly(True)
            try:
                return compiled(x, y)
            finally:
                tf.config.run_functions_eagerly(was_eager)

        return training.step(run)

    def mitigated_function_step_fn(self, ctx):
        """strategy.run from Python of a replica step that is a tf.function made once."""
        training = _Training(ctx, counted=True)
        replica_step = tf.function(training.replica_step)

        def run(x, y):
            per_replica = training.strategy.run(replica_step, args=(x, y))
            return training.strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)

        return training.step(run)


test_strategy_eager = benchmark_test(StrategyEager())
