"""Load per request: a serving loop that loads its model for every request, versus once.

Loading reads the file, rebuilds the model from its config and assigns every weight; done per
request, that is the request's main cost, and each loaded model is a new object the serving
function traces anew. Reported in keras-team/keras#7271.

The model (a 2-layer MLP) is saved once per process into a temporary folder, as a `.keras` file
and as a `.weights.h5` file. One step is one request: one 8-row batch through the model.
- `shared`: the model loaded once at start-up and reused;
- `load_model_per_request`: `keras.models.load_model(path)` for every request (timed);
- `load_weights_per_request`: a new model built and `load_weights(path)` for every request (timed);
- `mitigated`: the request still asks a loader for the model, but the loader is behind
  `functools.cache` (load once, on first use), the fix the issue is given.

Mode is how a request calls the model: `eager` calls it directly, `function` through one
tf.function made at start-up (`Context.compile`), which traces again for every new model
object. Not `jit`: every request of a re-loading variant would also be an XLA compile.
"""

import functools
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfreuse import Scenario, Step, Variant, benchmark_test
from tfreuse.scenarios.keras_models import mlp, regression
from tfreuse.scenarios.layer_reuse import param_bytes

SAVED_SEED = 5


class LoadPerRequest(Scenario):
    name = "load_per_request"
    variants = {
        "shared": Variant.baseline("one model loaded at start-up and reused by every request"),
        "load_model_per_request": "calling keras.models.load_model for every request",
        "load_weights_per_request": "building the model and loading its weights for every request",
        "mitigated": Variant.fix("a model loader behind functools.cache"),
    }
    modes = ("eager", "function")
    sizes = {"small": {"batch": 8, "features": 16, "hidden": 64, "outputs": 4}}

    def __init__(self):
        self._folder = tempfile.TemporaryDirectory(prefix="tfreuse-served-")
        self._saved: dict[tuple, Path] = {}

    def _saved_model(self, size) -> Path:
        """The `.keras` file of the served model for `size` (written once per process, with its
        `.weights.h5` beside it)."""
        key = tuple(sorted(size.items()))
        if key not in self._saved:
            rng = np.random.default_rng(SAVED_SEED)
            model = mlp(size)
            model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
            path = Path(self._folder.name) / f"served-{len(self._saved)}.keras"
            model.save(path)
            model.save_weights(self._weights_file(path))
            self._saved[key] = path
        return self._saved[key]

    @staticmethod
    def _weights_file(path: Path) -> Path:
        return path.with_suffix(".weights.h5")

    def _serving(self, ctx, load) -> Step:
        """A request: the model `load()` gives, called on the batch through one function."""
        x, _ = regression(ctx.params, rows_key="batch")
        x = tf.constant(x)

        def infer(model, x):
            return model(x, training=False)

        serve = ctx.compile(infer)
        latest = {}

        def request():
            model = latest["model"] = load()
            return serve(model, x)

        return Step(request, figures=lambda: {"param_bytes": param_bytes(latest["model"])})

    def _load_model(self, ctx):
        path = self._saved_model(ctx.params)
        return lambda: keras.models.load_model(path)

    def shared(self, ctx):
        """Loaded once at start-up, reused by every request."""
        model = self._load_model(ctx)()
        return self._serving(ctx, lambda: model)

    def load_model_per_request(self, ctx):
        """`keras.models.load_model` in every request (timed)."""
        return self._serving(ctx, self._load_model(ctx))

    def load_weights_per_request(self, ctx):
        """A new model built and its weights loaded in every request (timed)."""
        weights_file = self._weights_file(self._saved_model(ctx.params))

        def load():
            model = mlp(ctx.params)
            model.load_weights(weights_file)
            return model

        return self._serving(ctx, load)

    def mitigated(self, ctx):
        """The loader behind `functools.cache`: loaded on the first request only."""
        return self._serving(ctx, functools.cache(self._load_model(ctx)))


test_load_per_request = benchmark_test(LoadPerRequest())
