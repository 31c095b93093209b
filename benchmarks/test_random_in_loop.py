"""Random ops in a loop: eager `tf.random` ops drawn every step under a global seed.

With a global seed set (`tf.random.set_seed`, `keras.utils.set_random_seed`) and no op seed, an
eager `tf.random.normal` or `tf.random.uniform` (and `tf.nn.dropout`, which draws its mask with
the latter) takes a new op seed from the global seed's generator on every call, and eager
execution caches a kernel for every new set of attributes: one new kernel per call, never freed
until the kernel cache is cleared. Reported in tensorflow/tensorflow#37252 (memory grows with
every random sample once a seed is set, TF 2.0-2.1, eager execution only; its reporters trace it
to the op seeds drawn from the global seed's `random.Random`). tensorflow/tensorflow#24084 (a pull
request) explains that eager kernels are cached by their attributes, so two ops with the same
attributes share one kernel; in tensorflow/tensorflow#19671 (eager variables kept alive by that
cache, fixed in 2019) TensorFlow's developers note that setting the seed clears it: the "set the
seed again" advice measured here.

One step is Gaussian noise and a dropout mask over a 32x64 batch (`_noisy_dropout`: the same
arithmetic in every variant; only how the two samples are drawn differs). Inside the timer: the
two draws, the arithmetic and whatever the variant re-creates.
- `shared`: one `tf.random.Generator` made once, outside the step (the TensorFlow guide's advice);
- `seeded_random_ops`: `tf.random.normal` and `tf.random.uniform`, global seed set once, no op
  seed: in eager mode a new kernel per draw is cached (retained bytes per step); inside
  tf.function the op seeds are fixed when it is traced, so nothing is re-created;
- `generator_per_step`: a `tf.random.Generator.from_seed` made inside the step: a new state
  variable every eager step, and the same noise every step (the same seed); inside tf.function
  TensorFlow refuses the variable's creation (a ValueError, recorded as `outcome: error`);
- `mitigated_stateless`: `tf.random.stateless_normal` / `stateless_uniform` given a seed tensor
  `[seed, step]` per step (a seed is an input, not an attribute: one kernel serves every step);
- `mitigated_op_seed`: the same `tf.random` ops with an explicit op seed each: the attributes no
  longer change, so one cached kernel serves every call (its state moves on: new noise each step);
- `mitigated_reseed`: `seeded_random_ops` with `tf.random.set_seed` called again every step, to
  free the kernel cache: no bytes kept, but it throws away every cached kernel of the process
  (every op's, and a traced function's, rebuilt on its next call) and restarts the random
  sequence, so every step draws the same noise. What it clears also slows whatever runs next,
  the paired `shared` reference's step included, so its ratio to `shared` understates its cost.

Modes: `eager` and `function` (`Context.compile`: the draws in one tf.function made once).
The harness seeds TensorFlow before every case, as most training scripts do, so the global seed
is always set; the variants that rely on it set it once more while being made (outside the timer).
No variant keeps a file descriptor or a thread.
"""

import itertools

import tensorflow as tf

from tfreuse import Scenario, Variant, benchmark_test

SEED = 1234
# Explicit op seeds for `mitigated_op_seed`, one per call site.
NORMAL_OP_SEED, UNIFORM_OP_SEED = 1, 2


def _noisy_dropout(x, normal, uniform, rate):
    """`x` plus Gaussian noise, then dropped where `uniform < rate` (kept values scaled up)."""
    return tf.where(uniform >= rate, (x + normal) / (1.0 - rate), tf.zeros_like(x))


class RandomInLoop(Scenario):
    name = "random_in_loop"
    variants = {
        "shared": Variant.baseline("one tf.random.Generator made once"),
        "seeded_random_ops": "drawing with tf.random ops under a global seed, without op seeds",
        "generator_per_step": "creating a tf.random.Generator every step",
        "mitigated_stateless": Variant.fix("stateless random ops given a seed tensor per step",
                                           restores=("time", "traces", "memory")),
        "mitigated_op_seed": Variant.fix("tf.random ops given explicit op seeds",
                                         restores=("time", "traces", "memory")),
        "mitigated_reseed": Variant.fix("tf.random.set_seed called again every step to free the kernel cache",
                                        restores=("time", "traces", "memory")),
    }
    modes = ("eager", "function")
    sizes = {"small": {"batch": 32, "features": 64, "rate": 0.5}}
    expected_errors = {("generator_per_step", "function"): ValueError}

    @staticmethod
    def _batch(size):
        """The batch the noise and mask are applied to, made once outside every step."""
        return tf.random.normal((size["batch"], size["features"]))

    def shared(self, ctx):
        """One generator, made once; each step draws from it."""
        x, rate = self._batch(ctx.params), ctx.params["rate"]
        generator = tf.random.Generator.from_seed(SEED)

        def body():
            return _noisy_dropout(x, generator.normal(x.shape), generator.uniform(x.shape), rate)

        return ctx.compile(body)

    def _seeded_body(self, ctx):
        """The stateful `tf.random` draws without op seeds, under a global seed set once (outside)."""
        x, rate = self._batch(ctx.params), ctx.params["rate"]
        tf.random.set_seed(SEED)

        def body():
            return _noisy_dropout(x, tf.random.normal(x.shape), tf.random.uniform(x.shape), rate)

        return ctx.compile(body)

    def seeded_random_ops(self, ctx):
        """Stateful draws without op seeds: in eager mode a new op seed, so a new kernel, per draw."""
        return self._seeded_body(ctx)

    def generator_per_step(self, ctx):
        """A generator made from the same seed inside every step (timed: its state variable too)."""
        x, rate = self._batch(ctx.params), ctx.params["rate"]

        def body():
            generator = tf.random.Generator.from_seed(SEED)
            return _noisy_dropout(x, generator.normal(x.shape), generator.uniform(x.shape), rate)

        return ctx.compile(body)

    def mitigated_stateless(self, ctx):
        """Stateless draws from a seed tensor `[SEED, step]` passed in every step (its conversion timed)."""
        x, rate = self._batch(ctx.params), ctx.params["rate"]

        def body(seed):
            normal_seed, uniform_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
            return _noisy_dropout(x, tf.random.stateless_normal(x.shape, normal_seed),
                                  tf.random.stateless_uniform(x.shape, uniform_seed), rate)

        draw = ctx.compile(body)
        steps = itertools.count()
        # A list, not a Python scalar: eager TensorFlow caches every scalar it converts, keyed by
        # value, so `tf.constant(step)` with a new step each time would keep memory of its own.
        return lambda: draw(tf.constant([SEED, next(steps)], tf.int64))

    def mitigated_op_seed(self, ctx):
        """Stateful draws with an explicit op seed each, global seed set once (outside)."""
        x, rate = self._batch(ctx.params), ctx.params["rate"]
        tf.random.set_seed(SEED)

        def body():
            return _noisy_dropout(x, tf.random.normal(x.shape, seed=NORMAL_OP_SEED),
                                  tf.random.uniform(x.shape, seed=UNIFORM_OP_SEED), rate)

        return ctx.compile(body)

    def mitigated_reseed(self, ctx):
        """`seeded_random_ops` with `tf.random.set_seed(SEED)` before every draw (timed)."""
        draw = self._seeded_body(ctx)

        def step():
            tf.random.set_seed(SEED)
            return draw()

        return step


test_random_in_loop = benchmark_test(RandomInLoop())
