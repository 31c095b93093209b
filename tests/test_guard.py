"""The reuse guard: every anti-pattern scenario caught with the right kind and line, baselines pass,
retraces explained argument by argument, and the one private hook into TensorFlow still works."""

import importlib
import inspect
import threading
from pathlib import Path

import keras
import pytest
import tensorflow as tf

from tfreuse.core.profiles import Profile
from tfreuse.engine.harness import Case, Context
from tfreuse.probes.tracing import TraceLog, _on_every_trace
from tfreuse.tools.guard import ReuseError, ReuseGuard

PROFILE = Profile("test", rounds=4, min_rounds=4, warmup_steps=1, phase_seconds=60)
STEADY_STEPS = 3


def _scenario(module):
    return next(value.tfreuse_scenario for value in vars(module).values()
                if getattr(value, "tfreuse_scenario", None) is not None)


def guarded_findings(module_name: str, variant: str, mode: str, steady_steps=STEADY_STEPS, **limits):
    """Run a scenario variant's step 1 + `steady_steps` times under the guard; its findings."""
    module = importlib.import_module(f"benchmarks.{module_name}")
    scenario = _scenario(module)
    size = next(iter(scenario.sizes))
    ctx = Context(Case(scenario.name, variant, mode, "CPU:0", size), scenario.sizes[size], PROFILE)
    with ReuseGuard(warmup_steps=1, raise_on_findings=False, **limits) as guard:
        step = scenario.make_step(ctx)
        for _ in range(1 + steady_steps):
            with guard.step():
                step()
    return module, guard.findings


def _line_of(module, place: str) -> int:
    """The line of `module` a row names: "text", "Qualified.name: text" or "...: after >> text".

    `Qualified.name` limits the search to that function's source; `after >> text` to the lines
    after the first one holding `after` (a nested `def`). Exactly one line may match.
    """
    within, text = place.split(": ", 1) if ": " in place.split(" ", 1)[0] + " " else ("", place)
    target = module
    for part in filter(None, within.split(".")):
        target = getattr(target, part)
    source, first = inspect.getsourcelines(target) if within else (
        Path(module.__file__).read_text().splitlines(keepends=True), 1)
    after, _, text = text.rpartition(" >> ")
    start = next((index for index, line in enumerate(source) if after in line), None) if after else 0
    assert start is not None, f"{after!r} is not in {within or module.__file__}"
    lines = [first + index for index, line in enumerate(source) if index >= start and text in line]
    assert len(lines) >= 1, f"{text!r} is not in {within or module.__file__}"
    return lines[0] if after else (lines[0] if len(lines) == 1 else pytest.fail(
        f"{text!r} is on lines {lines} of {within or module.__file__}"))


# (scenario module, variant, mode, finding kind, what the finding says, the line of the scenario's
# module it points at: for a variable, the line that constructed its Keras layer, optimizer or
# metric when known, else the line that made it). New anti-pattern scenarios are one more row.
# None for the line: the variables are made by Keras from tfreuse's harness (a built-in layer
# built on its first call), so no frame of the scenario module is on the stack; the message still
# names the layer.
ANTI_PATTERNS = [
    ("test_shared_layer", "reinstantiated", "eager", "variable", "of layer linear_layer",
     "make_layer=lambda size: LinearLayer(size[\"units\"]),"),
    ("test_shared_layer", "reinstantiated", "function", "trace", "a different LinearLayer object", None),
    ("test_training_loop", "recreated", "eager", "variable", "Variable (8, 4) float32",
     "TrainingLoop.recreated: def body(x, y): >> holder.weight = tf.Variable(w0)"),
    ("test_training_loop", "recreated", "eager", "variable", "/iteration () int64",
     "TrainingLoop.recreated: return _train(holder.weight, keras.optimizers.SGD(LEARNING_RATE), x, y)"),
    ("test_function_rules", "new_object_arg", "function", "trace", "a different Dense object",
     "return forward(layer, x)"),
    ("test_function_rules", "new_object_arg_reduce_retracing", "function", "trace",
     "a different Dense object", "return forward(layer, x)"),
    ("test_function_rules", "new_object_arg", "function", "variable", "of layer dense", None),
    ("test_attention", "reinstantiated", "eager", "variable", "of layer query_0 (Dense)",
     "self.projections = [keras.layers.Dense(dim, name="),
    ("test_recurrent", "reinstantiated", "eager", "variable", "(LSTMCell)", None),
    ("test_transfer_learning", "reinstantiated", "eager", "variable", "features/kernel",
     "keras.layers.Dense(size[\"hidden\"], activation=\"relu\", name=\"features\"),"),
    ("test_transfer_learning", "reinstantiated", "function", "trace", "a different Sequential object",
     "return step(latest[\"extractor\"], x, y)"),
    # Python scalar argument and changing shape (function mode; `jit` traces the same way).
    ("test_python_scalar_args", "python_scalar", "function", "trace", "`scale`: Python int",
     "PythonScalarArgs.python_scalar: return lambda: forward(x, next(steps))"),
    # reduce_retracing generalises shapes, not Python values: the "mitigation" still retraces.
    ("test_python_scalar_args", "mitigated_scalar_reduce_retracing", "function", "trace",
     "`scale`: Python int",
     "PythonScalarArgs.mitigated_scalar_reduce_retracing: return lambda: forward(x, next(steps))"),
    ("test_python_scalar_args", "changing_shape", "function", "trace", "`x`: shape (",
     "return lambda: forward(rows[:next(lengths) % MAX_ROWS + 1])"),
    # Function created in a loop: a new tf.function object per step, the call is the line.
    ("test_function_in_loop", "function_per_step", "function", "trace",
     "a new tf.function object made from the same `def`",
     "return lambda: tf.function(body, jit_compile="),
    ("test_function_in_loop", "method_per_object", "function", "trace",
     "a new tf.function object made from the same `def`",
     "return (model.forward_jit if ctx.mode == \"jit\" else model.forward)(x)"),
    # Layers created in `call`. Keras makes a Dense's weights when the layer is first called
    # (its build), not at `Dense(...)`: the finding is placed at the construction in
    # `_dense_layers` ("made at", called from `BlockInCall.call`), and the message names the
    # build, the call `x = layer(x)` in `_apply`, as "built at". In function mode TensorFlow
    # itself refuses the second trace's variables (a ValueError, the scenario's expected error)
    # during the first step, before the guard has a steady step to judge.
    ("test_layers_in_call", "reinstantiated", "eager", "variable",
     "kernel (16, 32) float32 of layer dense", "_dense_layers: return [keras.layers.Dense("),
    # Optimizer re-created: by `compile` with a new Adam (Keras builds its slots lazily, inside
    # `train_on_batch`, and traces a new train function) or in a custom loop. Its slots are
    # placed at the Adam's construction (and built at `train_on_batch` / `apply_gradients`).
    ("test_recompile_in_loop", "recompiled", "eager", "variable",
     "/iteration () int64 of optimizer adam", "return keras.optimizers.Adam(LEARNING_RATE)"),
    ("test_recompile_in_loop", "recompiled", "function", "variable",
     "_kernel_momentum (16, 32) float32 of optimizer adam", "return keras.optimizers.Adam(LEARNING_RATE)"),
    ("test_recompile_in_loop", "recompiled", "function", "trace",
     "`one_step_on_data` (defined at", "RecompileInLoop.recompiled: return model.train_on_batch(x, y)"),
    # The same optimizer keeps its slots, but `compile` still makes Keras trace a new train function.
    ("test_recompile_in_loop", "mitigated_same_optimizer", "function", "trace",
     "a new tf.function object made from the same `def`",
     "RecompileInLoop.mitigated_same_optimizer: return model.train_on_batch(x, y)"),
    ("test_recompile_in_loop", "optimizer_per_step", "eager", "variable",
     "_kernel_momentum (16, 32) float32 of optimizer adam", "return keras.optimizers.Adam(LEARNING_RATE)"),
    ("test_recompile_in_loop", "optimizer_per_step", "function", "variable",
     "/iteration () int64 of optimizer adam", "return keras.optimizers.Adam(LEARNING_RATE)"),
    ("test_recompile_in_loop", "optimizer_per_step", "function", "trace",
     "`optimizer`: a different Adam object", "return train(model, optimizer, x, y)"),
    # A new model per trial: its layers' weights at the line that builds it (`mlp` is tfreuse's),
    # and Keras' train function traced anew for it at `fit`.
    ("test_model_in_loop", "reinstantiated", "function", "variable",
     "kernel (16, 32) float32 of layer dense",
     "ModelInLoop._compiled: model = mlp(ctx.params, counter)"),
    ("test_model_in_loop", "reinstantiated", "function", "trace", "`one_step_on_data` (defined at",
     "return model.fit(x, y, batch_size="),
    # `keras.backend.clear_session()` replaces TensorFlow's default graph, where creator scopes
    # live; the census follows it there, so the new model's weights still show, and the new train
    # function per trial too.
    ("test_model_in_loop", "mitigated_clear_session", "function", "variable",
     "kernel (16, 32) float32 of layer dense",
     "ModelInLoop._compiled: model = mlp(ctx.params, counter)"),
    ("test_model_in_loop", "mitigated_clear_session", "function", "trace",
     "a new tf.function object made from the same `def`", "return model.fit(x, y, batch_size="),
    # A model loaded per request: its weights at the loading line; in function mode the serving
    # function retraces for each new model object.
    ("test_load_per_request", "load_model_per_request", "eager", "variable",
     "kernel (16, 64) float32 of layer dense", "return lambda: keras.models.load_model(path)"),
    ("test_load_per_request", "load_model_per_request", "function", "trace",
     "`model`: a different TracedSequential object", "return serve(model, x)"),
    ("test_load_per_request", "load_weights_per_request", "eager", "variable",
     "kernel (16, 64) float32 of layer dense",
     "LoadPerRequest.load_weights_per_request: model = mlp(ctx.params)"),
    # random_in_loop: a tf.random.Generator made in the eager step is a new state variable per
    # step (inside tf.function TensorFlow refuses it on the first call). `seeded_random_ops` keeps
    # an eager kernel per draw: bytes only, no trace or variable for a row here.
    ("test_random_in_loop", "generator_per_step", "eager", "variable", "StateVar (3,) int64",
     "RandomInLoop.generator_per_step: generator = tf.random.Generator.from_seed(SEED)"),
    # strategy_eager: a new tf.function around strategy.run every step. The eager strategy.run
    # variants re-create nothing the guard counts (no trace, no variable, no byte kept).
    ("test_strategy_eager", "function_per_step", "function", "trace",
     "a new tf.function object made from the same `def`",
     "return training.step(lambda x, y: tf.function(training.distributed_step)(x, y))"),
    # writer_in_loop: in function mode the writer is an argument of the tf.function that writes,
    # so each new writer is a new trace, closed (`mitigated_close_each`) or not. A writer kept open
    # keeps its events file's descriptor, in eager mode too: named by the file, not by a line.
    ("test_writer_in_loop", "writer_per_step", "function", "trace",
     "`writer`: a different _ResourceSummaryWriter object",
     "WriterInLoop.writer_per_step: return write(writer, value, step_number())"),
    ("test_writer_in_loop", "writer_per_step_kept", "function", "trace",
     "`writer`: a different _ResourceSummaryWriter object",
     "WriterInLoop.writer_per_step_kept: return write(writer, value, step_number())"),
    ("test_writer_in_loop", "mitigated_close_each", "function", "trace",
     "`writer`: a different _ResourceSummaryWriter object",
     "WriterInLoop.mitigated_close_each: written = write(writer, value, step_number())"),
    ("test_writer_in_loop", "writer_per_step_kept", "eager", "descriptor", "1 file descriptor(s) left open: ", None),
    # metrics_in_loop: a Keras metric makes its variables in its constructor, so each is placed at
    # the line constructing its AUC or Mean; in function mode the new objects also retrace the
    # update function at its call, with reduce_retracing=True too (it generalises shapes only).
    # Not here: fit_in_loop's per-call variants, which make no variable and trace nothing the
    # guard sees (a new data adapter, tf.data pipeline, iterator and callbacks per call; tf.data
    # traces its map functions outside tf.function's tracing hook).
    ("test_metrics_in_loop", "metric_per_step", "eager", "variable",
     "/true_positives (200,) float32 of metric", "_new_metrics: auc = keras.metrics.AUC()"),
    ("test_metrics_in_loop", "metric_per_step", "eager", "variable",
     "mean/total () float32 of metric mean (Mean)", "_new_metrics: mean = keras.metrics.Mean()"),
    ("test_metrics_in_loop", "metric_per_step", "function", "variable",
     "/false_negatives (200,) float32 of metric", "_new_metrics: auc = keras.metrics.AUC()"),
    ("test_metrics_in_loop", "metric_per_step", "function", "trace",
     "`auc`: a different AUC object", "return update(auc, mean, labels, scores)"),
    ("test_metrics_in_loop", "mitigated_reduce_retracing", "function", "trace",
     "`mean`: a different Mean object", "return update(auc, mean, labels, scores)"),
    ("test_metrics_in_loop", "mitigated_clear_session", "eager", "variable",
     "mean/count () float32 of metric mean (Mean)", "_new_metrics: mean = keras.metrics.Mean()"),
]


@pytest.mark.slow
@pytest.mark.parametrize("module_name, variant, mode, kind, says, line_text", ANTI_PATTERNS,
                         ids=[f"{row[0]}-{row[1]}-{row[2]}-{row[3]}" for row in ANTI_PATTERNS])
def test_every_anti_pattern_is_caught_with_its_kind_and_line(module_name, variant, mode, kind, says,
                                                              line_text):
    module, findings = guarded_findings(module_name, variant, mode, max_retained_bytes_per_step=None)
    of_kind = [finding for finding in findings if finding.kind == kind and says in finding.message]
    assert of_kind, f"no {kind} finding saying {says!r} in:\n" + "\n".join(f.message for f in findings)
    assert {finding.step for finding in of_kind} == set(range(2, 2 + STEADY_STEPS))
    if line_text is not None:
        expected = (str(Path(module.__file__).resolve()), _line_of(module, line_text))
        assert expected in {(finding.where.file, finding.where.line) for finding in of_kind if finding.where}


# The reuse baselines, and the `mitigated*` variants that do fix. Not here: python_scalar_args'
# `mitigated_shape_reduce_retracing` (its second shape's trace, the one that generalises, falls in
# the first steady step), and the mitigations that still re-create (`mitigated_scalar_reduce_
# retracing`, `mitigated_same_optimizer`, model_in_loop's, all in ANTI_PATTERNS or the same as
# one there). predict_in_loop's `predict_per_batch` re-creates no variable and retraces nothing
# (its cost is a data adapter, iterator and callbacks per call), so the guard has nothing to see.
BASELINES = [(module, "shared", mode) for module in
             ("test_shared_layer", "test_training_loop", "test_function_rules", "test_attention",
              "test_recurrent", "test_transfer_learning", "test_layers_in_call",
              "test_recompile_in_loop", "test_predict_in_loop", "test_load_per_request")
             for mode in ("eager", "function")] + [
    ("test_python_scalar_args", "shared", "function"),
    ("test_python_scalar_args", "mitigated_scalar_as_variable", "function"),
    ("test_python_scalar_args", "mitigated_shape_input_signature", "function"),
    ("test_function_in_loop", "shared", "function"),
    ("test_function_in_loop", "mitigated", "function"),
    ("test_layers_in_call", "mitigated", "eager"),
    ("test_layers_in_call", "mitigated", "function"),
    ("test_recompile_in_loop", "mitigated_optimizer_once", "eager"),
    ("test_recompile_in_loop", "mitigated_optimizer_once", "function"),
    ("test_model_in_loop", "shared", "function"),
    ("test_predict_in_loop", "mitigated_predict_on_batch", "eager"),
    ("test_predict_in_loop", "mitigated_predict_on_batch", "function"),
    ("test_predict_in_loop", "mitigated_direct_call", "function"),
    ("test_load_per_request", "mitigated", "eager"),
    ("test_load_per_request", "mitigated", "function"),
    # random_in_loop: the generator made once and the fixes that keep no kernel. Not here:
    # `mitigated_reseed`, which passes the guard (it keeps nothing) but draws the same noise
    # every step and rebuilds every kernel.
    *[("test_random_in_loop", variant, mode) for variant in ("shared", "mitigated_stateless", "mitigated_op_seed")
      for mode in ("eager", "function")],
    # strategy_eager: the compiled step, and a tf.function replica step that TensorFlow lifts.
    ("test_strategy_eager", "shared", "eager"),
    ("test_strategy_eager", "shared", "function"),
    ("test_strategy_eager", "mitigated_function_step_fn", "eager"),
    ("test_strategy_eager", "mitigated_function_step_fn", "function"),
    # restored_call: the serving signature and the input_signature fix (the restored `__call__`
    # retracing eagerly is not seen: TensorFlow defines its body, and TraceLog leaves those out).
    # writer_in_loop: one writer, and eagerly a writer per step closed after its write.
    ("test_restored_call", "shared", "eager"),
    ("test_restored_call", "shared", "function"),
    ("test_restored_call", "mitigated_input_signature", "eager"),
    ("test_restored_call", "mitigated_input_signature", "function"),
    ("test_writer_in_loop", "shared", "eager"),
    ("test_writer_in_loop", "shared", "function"),
    ("test_writer_in_loop", "mitigated_close_each", "eager"),
    # dataset_in_loop: one iterator (in-memory or from_generator), and the cleanup class that
    # removes a rebuilt from_generator pipeline's functions from the default graph.
    ("test_dataset_in_loop", "shared", "eager"),
    ("test_dataset_in_loop", "shared", "function"),
    ("test_dataset_in_loop", "mitigated_generator_once", "eager"),
    ("test_dataset_in_loop", "mitigated_generator_once", "function"),
    ("test_dataset_in_loop", "mitigated_cleanup_class", "eager"),
    # py_function_in_loop: plain Python, and tf.py_function inside one tf.function.
    ("test_py_function_in_loop", "shared", "eager"),
    ("test_py_function_in_loop", "shared", "function"),
    ("test_py_function_in_loop", "mitigated_in_tf_function", "function"),
    # fit_in_loop and metrics_in_loop: the baselines and the fixes that keep their objects.
    ("test_fit_in_loop", "shared", "eager"),
    ("test_fit_in_loop", "shared", "function"),
    ("test_fit_in_loop", "mitigated_on_batch", "eager"),
    ("test_fit_in_loop", "mitigated_on_batch", "function"),
    ("test_metrics_in_loop", "shared", "eager"),
    ("test_metrics_in_loop", "shared", "function"),
    ("test_metrics_in_loop", "mitigated_reset_state", "eager"),
    ("test_metrics_in_loop", "mitigated_reset_state", "function"),
]


@pytest.mark.slow
@pytest.mark.parametrize("module_name, variant, mode", BASELINES, ids=["-".join(row) for row in BASELINES])
def test_every_reuse_baseline_passes_the_guard(module_name, variant, mode):
    """With the default limits, memory included (5 steady steps: see DEFAULT_RETAINED_BYTES_PER_STEP)."""
    _module, findings = guarded_findings(module_name, variant, mode, steady_steps=5)
    assert [finding.message for finding in findings] == []


# --- what changed between two traces ------------------------------------------------------------

def _retrace_messages(first_call, second_call):
    @tf.function
    def step(x, rate, layer=None):
        return x * rate

    step(*first_call)
    with ReuseGuard(warmup_steps=0) as guard, pytest.raises(ReuseError) as raised:
        with guard.step():
            step(*second_call)
    return str(raised.value)


def test_a_changed_python_scalar_is_named_with_both_values():
    x = tf.ones((32, 64))
    assert "`rate`: Python float 0.1 -> 0.2" in _retrace_messages((x, 0.1), (x, 0.2))


def test_a_new_shape_is_named_with_both_shapes():
    message = _retrace_messages((tf.ones((32, 64)), 0.5), (tf.ones((16, 64)), 0.5))
    assert "`x`: shape (32, 64) -> (16, 64)" in message


def test_a_list_argument_is_read_item_by_item():
    """TensorFlow keeps a list's items as a Tuple inside its List type (Keras' predict step takes one)."""
    @tf.function
    def doubled(parts):
        return [2 * part for part in parts]

    doubled([tf.ones(2), tf.ones(2)])
    with ReuseGuard(warmup_steps=0) as guard, pytest.raises(ReuseError) as raised:
        with guard.step():
            doubled([tf.ones(2), tf.ones(3)])
    assert "`parts[1]`: shape (2,) -> (3,)" in str(raised.value)


def test_a_changed_dtype_is_named():
    message = _retrace_messages((tf.ones((4,)), 0.5), (tf.ones((4,), tf.float64), 0.5))
    assert "`x`: dtype float32 -> float64" in message


def test_a_new_layer_object_is_named_with_its_class_and_both_names():
    x = tf.ones((2, 3))
    first, second = keras.layers.Dense(4, name="old_head"), keras.layers.Dense(4, name="new_head")
    message = _retrace_messages((x, 0.5, first), (x, 0.5, second))
    assert "`layer`: a different Dense object (Dense 'old_head' at" in message
    assert "-> Dense 'new_head' at" in message


def test_the_message_names_the_function_and_the_calling_line():
    x = tf.ones((2,))
    message = _retrace_messages((x, 1), (x, 2))
    here = inspect.getsourcelines(_retrace_messages)
    call_line = here[1] + next(i for i, line in enumerate(here[0]) if "step(*second_call)" in line)
    assert f"tf.function `step` (defined at {__file__}:" in message
    assert f"called at {__file__}:{call_line}" in message


# --- the guard itself ---------------------------------------------------------------------------

def _marked_line(marker: str) -> int:
    """The line of this file ending with the comment `marker`."""
    lines = Path(__file__).read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if line.endswith(f"# {marker}"))


def test_variables_made_during_warm_up_are_allowed_and_later_ones_name_their_line():
    x = tf.ones((2, 3))
    with pytest.raises(ReuseError) as raised:
        with ReuseGuard(warmup_steps=1) as guard:
            for _ in range(2):
                with guard.step():
                    keras.layers.Dense(5, name="head")(x)  # Dense made in the step
    message = str(raised.value)
    assert "step 2: 2 new tf.Variable(s)" in message
    assert "head/kernel (3, 5) float32 of layer head (Dense)" in message
    assert "head/bias (5,) float32 of layer head (Dense)" in message
    assert f"made at {__file__}:{_marked_line('Dense made in the step')} in " in message


def test_a_variable_created_inside_a_tf_function_names_the_line_in_the_function_body():
    made = []

    @tf.function
    def body(x):
        if not made:
            made.append(tf.Variable(x))  # variable made while tracing
        return x

    with ReuseGuard(warmup_steps=0, raise_on_findings=False, max_traces=1) as guard:
        with guard.step():
            body(tf.ones(2))
    assert [(f.kind, f.where.file, f.where.line) for f in guard.findings] == [
        ("variable", __file__, _marked_line("variable made while tracing"))]


def test_an_optimizers_variables_are_put_on_the_optimizers_account():
    weight = tf.Variable(tf.ones((3, 2)))
    with ReuseGuard(warmup_steps=0, raise_on_findings=False) as guard:
        with guard.step():
            keras.optimizers.SGD(0.1, momentum=0.9, name="sgd_in_step").build([weight])
    described = [finding.message.splitlines()[0] for finding in guard.findings]
    assert "sgd_in_step/iteration () int64 of optimizer sgd_in_step (SGD)" in described
    assert any(text.endswith("(3, 2) float32 of optimizer sgd_in_step (SGD)") for text in described)


def test_limits_allow_what_they_say():
    x = tf.ones((2, 3))
    with ReuseGuard(warmup_steps=0, max_new_variables=2) as guard:
        with guard.step():
            keras.layers.Dense(5)(x)
    assert guard.findings == []


def test_a_block_without_steps_is_one_steady_step():
    x = tf.ones((2, 3))
    with pytest.raises(ReuseError, match=r"the guarded block: 2 new tf.Variable\(s\)"):
        with ReuseGuard():
            keras.layers.Dense(5)(x)


def test_memory_kept_beyond_the_bound_fails_at_the_end():
    kept = []
    with pytest.raises(ReuseError, match=r"memory kept grew by [0-9.]+ KiB per step over 3 steady steps"):
        with ReuseGuard(warmup_steps=1, max_retained_bytes_per_step=1024) as guard:
            for _ in range(4):
                with guard.step():
                    # 4 MiB kept per step, in blocks below glibc's mmap threshold: freeing
                    # mmapped blocks would raise that threshold and change later RSS figures.
                    kept.append([bytearray(64 * 1024) for _ in range(64)])


def test_a_function_made_in_a_loop_is_a_new_function_object_each_step():
    x = tf.ones((2,))
    with pytest.raises(ReuseError, match="a new tf.function object made from the same `def` "
                                         r"\(2 so far\); create the tf.function once"):
        with ReuseGuard(warmup_steps=1) as guard:
            for _ in range(2):
                with guard.step():
                    tf.function(lambda v: v + 1)(x)


def test_a_trace_unreadable_in_warm_up_is_no_finding_but_one_in_a_steady_step_is(monkeypatch):
    import tfreuse.probes.tracing as tracing

    def unreadable(function_type):
        raise AttributeError("a TraceType tfreuse does not know")

    @tf.function
    def halve(x):
        return x / 2

    with ReuseGuard(warmup_steps=1, raise_on_findings=False) as guard:
        with guard.step(), monkeypatch.context() as patched:
            patched.setattr(tracing, "signature_arguments", unreadable)
            halve(tf.ones(2))
        with guard.step():
            halve(tf.ones(2))
        assert guard.findings == []
        with guard.step(), monkeypatch.context() as patched:
            patched.setattr(tracing, "signature_arguments", unreadable)
            halve(tf.ones(3))
    assert [(f.kind, f.step, f.message) for f in guard.findings] == [
        ("trace", 3, "tfreuse could not read a trace: AttributeError: a TraceType tfreuse does not know")]


@pytest.mark.parametrize("bad", [{"warmup_steps": -1}, {"max_traces": 0.5},
                                 {"max_retained_bytes_per_step": -3}])
def test_bad_limits_are_refused_with_their_name(bad):
    name = next(iter(bad))
    with pytest.raises(ValueError, match=f"ReuseGuard: {name} must be"):
        ReuseGuard(**bad)


def test_the_variable_creating_first_call_is_one_trace_not_two():
    holder = {}

    @tf.function
    def scale(x):
        if "v" not in holder:
            holder["v"] = tf.Variable(2.0)
        return x * holder["v"]

    with TraceLog() as log:
        scale(tf.ones(2))
        scale(tf.ones(2))
    assert [(event.function, event.trace_number) for event in log.events] == [("scale", 1)]
    assert log.errors == []


def test_tensorflows_trace_hook_still_gives_the_tracing_options():
    """Fails loudly if TensorFlow moves what `_on_every_trace` relies on (tracing_compilation)."""
    seen = []
    remove = _on_every_trace(lambda concrete, options: seen.append((concrete, options)))
    try:
        @tf.function
        def double(x):
            return 2 * x

        double(tf.ones(3))
    finally:
        remove()
    assert len(seen) == 1
    concrete, options = seen[0]
    assert options is not None, "tracing_options not found in TensorFlow's tracing frames"
    assert options.name == "double"
    assert inspect.unwrap(options.python_function).__code__ is inspect.unwrap(double.python_function).__code__
    assert options.function_cache is not None
    assert options.scope_type.name in ("VARIABLE_CREATION", "NO_VARIABLE_CREATION")
    assert list(concrete.function_type.parameters) == ["x"]


# --- made on one line, used on another: the construction line first, then the build ----------

_SHARED_WEIGHT: list = []  # made on first use: a tensor made at import would fix TensorFlow's thread pools


def _shared_weight():
    if not _SHARED_WEIGHT:
        _SHARED_WEIGHT.append(tf.Variable(tf.ones((3, 2))))
    return _SHARED_WEIGHT[0]


def _new_layer(x):
    head = keras.layers.Dense(2)  # layer: constructed
    return head(x)  # layer: built


def _new_model(x):
    model = keras.Sequential([keras.layers.Dense(2)])  # model: constructed
    return model(x)  # model: built


def _new_optimizer(x):
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)  # optimizer: constructed
    optimizer.apply_gradients([(tf.ones((3, 2)), _shared_weight())])  # optimizer: built


def _new_metric(x):
    mean = keras.metrics.Mean()  # metric: constructed
    mean.update_state(x)  # metric: updated


def _double(v):
    return 2 * v


def _new_function(x):
    doubled = tf.function(_double)  # function: constructed
    return doubled(x)  # function: called


# (step, finding kind, what the finding says, class named as constructed, marker of the line that
# built or called it; None: built where it was constructed)
MADE_HERE_USED_THERE = [
    (_new_layer, "variable", "kernel (3, 2) float32 of layer", "Dense", "layer: built"),
    (_new_model, "variable", "kernel (3, 2) float32 of layer", "Dense", "model: built"),
    (_new_optimizer, "variable", "momentum (3, 2) float32 of optimizer", "SGD", "optimizer: built"),
    # A Keras metric makes its variables in its constructor: no separate build line.
    (_new_metric, "variable", "total () float32 of metric", "Mean", None),
    (_new_function, "trace", "a new tf.function object made from the same `def`", "tf.function",
     "function: called"),
]


@pytest.mark.parametrize("step, kind, says, constructed, used", MADE_HERE_USED_THERE,
                         ids=[row[0].__name__ for row in MADE_HERE_USED_THERE])
def test_a_finding_names_the_construction_line_then_the_line_that_built_it(step, kind, says, constructed,
                                                                           used):
    name = step.__name__
    made_line = _marked_line(f"{name.removeprefix('_new_')}: constructed")
    x = tf.ones((4, 3))
    with ReuseGuard(warmup_steps=1, raise_on_findings=False) as guard:
        for _ in range(3):
            with guard.step():
                step(x)
    found = [finding for finding in guard.findings if finding.kind == kind and says in finding.message]
    assert {finding.step for finding in found} == {2, 3}, guard.report()
    assert {(finding.where.file, finding.where.line) for finding in found} == {(__file__, made_line)}
    message = found[0].message
    assert f"made at {__file__}:{made_line} in {name} ({constructed} constructed here): " in message
    if used is None:
        assert "built at" not in message
    elif kind == "variable":
        assert f"built at {__file__}:{_marked_line(used)} in {name}: " in message
        assert message.index("made at") < message.index("built at")
    else:
        assert f"called at {__file__}:{_marked_line(used)} in {name}: " in message


def test_tensorflows_tf_function_class_still_passes_through_the_wrapped_init():
    """Fails if tf.function objects stop being made through the `__init__` that
    `tracing._on_every_function_made` wraps, or if the wrapper is not undone."""
    from tensorflow.python.eager.polymorphic_function import polymorphic_function

    from tfreuse.probes.tracing import _on_every_function_made

    original = vars(polymorphic_function.Function)["__init__"]
    seen = []
    undo = _on_every_function_made(lambda function, frame: seen.append((function, frame.f_code.co_name)))
    try:
        made = tf.function(_double)

        class Holder:
            @tf.function
            def method(self, v):
                return v

        bound = Holder().method
        bound(tf.ones(1))
    finally:
        undo()
    assert vars(polymorphic_function.Function)["__init__"] is original
    functions = [function for function, _ in seen]
    assert any(function is made for function in functions)
    assert any(function._function_cache is made._function_cache for function in functions)
    assert len(functions) >= 3  # tf.function(_double), the method's function, its per-object copy


def test_a_step_that_leaves_a_file_open_is_named_with_the_file(tmp_path):
    kept = []
    with ReuseGuard(raise_on_findings=False) as guard:
        for index in range(3):
            with guard.step():
                kept.append(open(tmp_path / f"log-{index}.txt", "w"))
    try:
        found = [finding for finding in guard.findings if finding.kind == "descriptor"]
        assert [finding.step for finding in found] == [2, 3]
        assert found[0].message == f"1 file descriptor(s) left open: {tmp_path / 'log-1.txt'}"
    finally:
        for handle in kept:
            handle.close()


def test_a_step_that_leaves_a_thread_running_is_named_and_a_closed_one_is_not(tmp_path):
    stop = threading.Event()
    with ReuseGuard(raise_on_findings=False, max_new_threads=0) as guard:
        for index in range(3):
            with guard.step():
                threading.Thread(target=stop.wait, name=f"kept-{index}", daemon=True).start()
    stop.set()
    found = [finding for finding in guard.findings if finding.kind == "thread"]
    assert [finding.message for finding in found] == ["1 thread(s) left running (Python: kept-1)",
                                                      "1 thread(s) left running (Python: kept-2)"]
    with ReuseGuard(raise_on_findings=False) as guard:
        for index in range(3):
            with guard.step():
                with open(tmp_path / f"closed-{index}.txt", "w") as handle:
                    handle.write("x")
                thread = threading.Thread(target=lambda: None)
                thread.start()
                thread.join()
    assert guard.findings == []


def test_the_limits_on_descriptors_and_threads_allow_what_they_say(tmp_path):
    kept = []
    with ReuseGuard(raise_on_findings=False, max_new_descriptors=1) as guard:
        for index in range(3):
            with guard.step():
                kept.append(open(tmp_path / f"allowed-{index}.txt", "w"))
    for handle in kept:
        handle.close()
    assert guard.findings == []


def test_a_block_without_steps_that_leaves_a_file_open_is_named(tmp_path):
    with ReuseGuard(raise_on_findings=False) as guard:
        handle = open(tmp_path / "block.txt", "w")
    handle.close()
    assert [(f.kind, f.step) for f in guard.findings] == [("descriptor", None)]
