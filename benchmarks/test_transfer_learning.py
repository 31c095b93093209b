"""Transfer learning: a frozen pretrained feature extractor inside a new task model (seed example 3).

A task head (built from the extractor's *output* width: the seed built it from the input width,
which fails with a shape mismatch) is trained on features of a frozen extractor whose pretrained
weights live in a weights file.
- `shared`: one extractor, loaded once, reused by every step;
- `reinstantiated`: the extractor re-created and its weights re-loaded from the file every step
  (timed; in function mode each new extractor object retraces the step);
- `reinitialized`: the extractor's weights re-drawn at random every step: pretrained knowledge lost;
- `frozen_after_trace`: the trap. The step is traced while the extractor is trainable, then
  `trainable = False` is set: tf.function does not retrace, so the "frozen" weights keep training;
- `mitigated`: the same, but the step is traced again after freezing.
"""

import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfreuse import Scenario, Step, Variant, benchmark_test, make_redrawable, reinitialize

LEARNING_RATE = 0.05
PRETRAINED_SEED = 7


def _extractor(size, weights_file=None):
    """The feature extractor; with `weights_file`, loaded with the pretrained weights and frozen."""
    extractor = keras.Sequential([
        keras.Input((size["features"],)),
        keras.layers.Dense(size["hidden"], activation="relu", name="features"),
    ])
    if weights_file is not None:
        extractor.load_weights(weights_file)
        extractor.trainable = False
    return extractor


def _train(extractor, head, optimizer, x, y):
    """One SGD step on every trainable weight the models report while this body is traced."""
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(head(extractor(x)) - y))
    variables = extractor.trainable_variables + head.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return loss


class TransferLearning(Scenario):
    name = "transfer_learning"
    variants = {
        "shared": Variant.baseline("one pretrained extractor loaded once and reused"),
        "reinstantiated": "re-instantiating the pretrained extractor every step",
        "reinitialized": "re-initializing the pretrained extractor every step",
        "frozen_after_trace": "freezing the pretrained extractor after tracing",
        # Its purpose is frozen weights that stay frozen; it trains another setup than `shared`
        # (a head over an extractor that trained one step), so its learning is not judged.
        "mitigated": Variant.fix("freezing the pretrained extractor after tracing, then tracing anew",
                                 restores=("time", "traces", "drift")),
    }
    modes = ("eager", "function", "jit")
    sizes = {
        "small": {"batch": 64, "features": 16, "hidden": 32, "outputs": 4},
        "large": {"batch": 512, "features": 512, "hidden": 1024, "outputs": 16},
    }
    learning_steps = 20
    skips = {("reinstantiated", "jit"): "every new extractor recompiles the step with XLA (~1 s a "
                                        "step on 2 cores); its retracing is measured in function mode"}

    def __init__(self):
        self._folder = tempfile.TemporaryDirectory(prefix="tfreuse-pretrained-")
        self._files: dict[tuple, Path] = {}

    def _pretrained(self, size) -> Path:
        """The weights file of the pretrained extractor for `size` (written once per process)."""
        key = tuple(sorted(size.items()))
        if key not in self._files:
            rng = np.random.default_rng(PRETRAINED_SEED)
            extractor = _extractor(size)
            extractor.set_weights([rng.normal(0, 1 / np.sqrt(w.shape[0]), w.shape).astype("float32")
                                   for w in extractor.get_weights()])
            path = Path(self._folder.name) / f"extractor-{len(self._files)}.weights.h5"
            extractor.save_weights(path)
            self._files[key] = path
        return self._files[key]

    def _task(self, ctx):
        """Seeded inputs, targets a linear head can learn from pretrained features, a fresh head."""
        size = ctx.params
        weights_file = self._pretrained(size)
        pretrained = _extractor(size, weights_file)
        x = tf.random.normal((size["batch"], size["features"]))
        y = pretrained(x) @ tf.random.normal((size["hidden"], size["outputs"]))
        head = keras.layers.Dense(size["outputs"])
        head.build((None, size["hidden"]))  # from the extractor's output width
        reference = [w.numpy() for w in pretrained.weights]
        return weights_file, x, y, head, reference

    @staticmethod
    def _evaluate(current, head, x, y, reference):
        def evaluate():
            extractor = current()
            loss = tf.reduce_mean(tf.square(head(extractor(x)) - y))
            drift = max(float(np.max(np.abs(w.numpy() - r))) for w, r in zip(extractor.weights, reference))
            return {"loss": float(loss), "frozen_weight_drift": drift}
        return evaluate

    def shared(self, ctx):
        """The pretrained extractor loaded once and reused."""
        weights_file, x, y, head, reference = self._task(ctx)
        extractor = _extractor(ctx.params, weights_file)
        optimizer = keras.optimizers.SGD(LEARNING_RATE)
        step = ctx.compile(lambda x, y: _train(extractor, head, optimizer, x, y))
        return Step(lambda: step(x, y), evaluate=self._evaluate(lambda: extractor, head, x, y, reference))

    def reinstantiated(self, ctx):
        """Re-created and re-loaded from the weights file every step (timed)."""
        weights_file, x, y, head, reference = self._task(ctx)
        optimizer = keras.optimizers.SGD(LEARNING_RATE)
        step = ctx.compile(lambda extractor, x, y: _train(extractor, head, optimizer, x, y))
        latest = {"extractor": _extractor(ctx.params, weights_file)}

        def run():
            latest["extractor"] = _extractor(ctx.params, weights_file)
            return step(latest["extractor"], x, y)

        return Step(run, evaluate=self._evaluate(lambda: latest["extractor"], head, x, y, reference))

    def reinitialized(self, ctx):
        """The same extractor, its weights re-drawn at random before every step (timed)."""
        weights_file, x, y, head, reference = self._task(ctx)
        extractor, weights = make_redrawable(lambda: _extractor(ctx.params, weights_file), (x,))
        optimizer = keras.optimizers.SGD(LEARNING_RATE)
        step = ctx.compile(lambda x, y: _train(extractor, head, optimizer, x, y))

        def run():
            reinitialize(weights)
            return step(x, y)

        return Step(run, evaluate=self._evaluate(lambda: extractor, head, x, y, reference))

    def _frozen_after_first_step(self, ctx, retrace: bool) -> Step:
        weights_file, x, y, head, _ = self._task(ctx)
        extractor = _extractor(ctx.params, weights_file)
        extractor.trainable = True
        optimizer = keras.optimizers.SGD(LEARNING_RATE)
        train = lambda x, y: _train(extractor, head, optimizer, x, y)  # noqa: E731
        step = ctx.compile(train)
        step(x, y)  # traced (in function mode) while the extractor is trainable
        extractor.trainable = False
        frozen = [w.numpy() for w in extractor.weights]
        if retrace:
            step = ctx.compile(train)
        return Step(lambda: step(x, y), evaluate=self._evaluate(lambda: extractor, head, x, y, frozen))

    def frozen_after_trace(self, ctx):
        """Frozen after one trained step; the drift is measured from the weights at freezing."""
        return self._frozen_after_first_step(ctx, retrace=False)

    def mitigated(self, ctx):
        """Frozen after one trained step, then the step traced anew so the freeze takes effect."""
        return self._frozen_after_first_step(ctx, retrace=True)


test_transfer_learning = benchmark_test(TransferLearning())
