import time

import numpy as np
import pytest
import tensorflow as tf

from tfreuse.core import schema
from tfreuse.core.profiles import Profile
from tfreuse.engine.harness import Case, Scenario, Step, run_case
from tfreuse.engine.session import Session
from tfreuse.engine.timer import Timer

from tests.fakes import FakeBenchmark

PROFILE = Profile("test", rounds=5, min_rounds=5, warmup_steps=2, phase_seconds=60)


class Toy(Scenario):
    """A scenario small enough to count everything it does."""

    name = "toy"
    variants = ("shared", "refused", "retracing")
    sizes = {"tiny": {"n": 3}}
    expected_errors = {("refused", "function"): ValueError}

    def shared(self, ctx):
        x = tf.ones((ctx.params["n"],))
        double = ctx.compile(lambda t: t * 2)
        return Step(lambda: double(x), figures=lambda: {})

    def refused(self, ctx):
        if ctx.mode == "function":
            raise ValueError("tf.function only supports singleton tf.Variables\nsecond line")
        return lambda: None

    def retracing(self, ctx):
        double = ctx.compile(lambda t, k: t * k)
        counter = iter(range(10_000))
        return lambda: double(tf.ones(1), next(counter))  # a new Python scalar: a new trace


def _run(variant, mode, scenario=None, profile=PROFILE, session=None):
    bench = FakeBenchmark()
    case = Case("toy", variant, mode, "CPU:0", "tiny")
    return bench, run_case(bench, scenario or Toy(), case, session or Session(profile))


class SlowFirstStep(Toy):
    """Toy whose `shared` step takes at least 20 ms the first time and 2 ms every time."""

    def shared(self, ctx):
        step, calls = super().shared(ctx), []

        def run():
            time.sleep(0.02 if not calls else 0.002)
            calls.append(1)
            return step()

        return Step(run)


def test_record_is_written_to_extra_info_and_matches_schema():
    bench, record = _run("shared", "function", SlowFirstStep())
    assert bench.extra_info == record
    schema.validate(record)
    assert record["outcome"] == "ok" and record["first_step_s"] >= 0.02
    assert bench.group == "toy-function-CPU:0-tiny"


def test_warm_up_keeps_the_first_trace_out_of_the_window():
    _, record = _run("shared", "function")
    assert record["measured_steps"] == PROFILE.rounds
    assert (record["trace_events"], record["traces_per_step"]) == (0, 0.0)


def test_retracing_every_step_counts_one_trace_per_step():
    _, record = _run("retracing", "function")
    assert record["trace_events"] == PROFILE.rounds
    assert record["tracing_cache_delta"] == PROFILE.rounds
    assert record["traces_per_step"] == 1.0


def test_eager_mode_counts_no_traces():
    _, record = _run("retracing", "eager")
    assert record["trace_events"] == 0


def test_timed_rounds_run_after_first_step_warm_up_and_window():
    bench, _ = _run("shared", "eager")
    assert bench.calls == PROFILE.rounds


def test_expected_refusal_is_recorded_as_an_error_row():
    bench, record = _run("refused", "function")
    assert record["outcome"] == "error"
    assert record["error_type"] == "ValueError"
    assert record["error_message"] == "tf.function only supports singleton tf.Variables"
    assert bench.calls == 1 and bench.extra_info["outcome"] == "error"


def test_refusal_message_is_dug_out_of_tf_function_frames():
    class Buried(Toy):
        def refused(self, ctx):
            raise ValueError("in user code:\n\n    File \"x.py\", line 3\n\n    ValueError: the real reason")

    _, record = _run("refused", "function", Buried())
    assert record["error_message"] == "the real reason"


def test_unexpected_error_fails_the_benchmark():
    class Broken(Toy):
        def shared(self, ctx):
            raise KeyError("bug in the scenario")

    with pytest.raises(KeyError, match="bug in the scenario"):
        _run("shared", "eager", Broken())


def test_expected_refusal_that_does_not_happen_fails():
    class Lenient(Toy):
        def refused(self, ctx):
            return lambda: None

    with pytest.raises(AssertionError, match="expected TensorFlow to raise ValueError"):
        _run("refused", "function", Lenient())


def test_cases_cover_every_axis_in_a_stable_order():
    cases = Toy().cases(["CPU:0", "GPU:0"])
    assert len(cases) == 3 * 2 * 1 * 2
    assert cases[0].id == "shared-eager-CPU:0-tiny"
    assert len({case.id for case in cases}) == len(cases)


def test_stability_flags_follow_pytest_benchmark_statistics():
    from tfreuse.engine.harness import stability

    def summary(mean, stddev, rounds):
        return {"mean": mean, "stddev": stddev, "rounds": rounds}

    assert stability(summary(1.0, 0.05, 20)) == {"timing_rsd": 0.05, "timing_unstable": False}
    assert stability(summary(1.0, 0.2, 20))["timing_unstable"] is True
    assert stability(summary(1.0, 0.0, 3))["timing_unstable"] is True
    assert stability(Timer(FakeBenchmark()).summary()) == {}  # timing disabled: the record keeps null


def test_probes_cover_the_timed_rounds_and_sample_memory_after_each():
    bench, record = _run("retracing", "function")
    assert bench.calls == PROFILE.rounds == record["measured_steps"]
    assert record["trace_events"] == PROFILE.rounds  # the rounds pytest-benchmark timed


def test_rounds_still_run_under_the_probes_when_timing_is_disabled():
    bench = FakeBenchmark()
    bench.disabled = True
    record = run_case(bench, Toy(), Case("toy", "retracing", "function", "CPU:0", "tiny"), Session(PROFILE))
    assert bench.calls == 1  # pytest-benchmark ran (and, disabled, did not time) the first round
    assert record["measured_steps"] == record["trace_events"] == PROFILE.rounds


def test_other_variants_time_one_shared_step_before_each_round():
    _, variant = _run("retracing", "function", SlowFirstStep())
    _, shared = _run("shared", "function")
    assert len(variant["shared_samples_s"]) == variant["measured_steps"] == PROFILE.rounds
    assert all(seconds >= 0.002 for seconds in variant["shared_samples_s"])  # the 2 ms shared step
    assert shared["shared_samples_s"] is None
    # The shared reference is built with a context of its own: its traces are not counted.
    assert variant["trace_events"] == PROFILE.rounds


def test_unpaired_profile_records_no_shared_samples():
    from dataclasses import replace

    bench = FakeBenchmark()
    case = Case("toy", "retracing", "function", "CPU:0", "tiny")
    record = run_case(bench, Toy(), case, Session(replace(PROFILE, paired_shared=False)))
    assert record["shared_samples_s"] is None


def test_the_shared_case_lends_its_step_to_the_variants_of_its_situation():
    class Counting(Toy):
        built = 0

        def shared(self, ctx):
            Counting.built += 1
            return super().shared(ctx)

    scenario, session = Counting(), Session(PROFILE)
    _run("shared", "function", scenario, session=session)
    assert Counting.built == 1
    _, variant = _run("retracing", "function", scenario, session=session)
    assert Counting.built == 1 and len(variant["shared_samples_s"]) == PROFILE.rounds
    _run("retracing", "function", Counting(), session=session)  # another scenario object: its own reference
    assert Counting.built == 2
    _run("retracing", "function", scenario)  # another session: nothing kept from this one
    assert Counting.built == 3


PLANNED_PROFILE = Profile("test", rounds=50, min_rounds=5, warmup_steps=2, phase_seconds=1e-9)


def test_the_planned_rounds_run_whatever_the_timings():
    noisy = iter(np.random.default_rng(0).lognormal(-7, 1.0, 1000))
    bench = FakeBenchmark(noisy)
    record = run_case(bench, Toy(), Case("toy", "shared", "function", "CPU:0", "tiny"), Session(PLANNED_PROFILE))
    assert len(Timer(bench).summary()["data"]) == record["measured_steps"] == PLANNED_PROFILE.min_rounds


def test_without_timing_the_planned_rounds_run():
    bench = FakeBenchmark(None)
    bench.disabled = True
    record = run_case(bench, Toy(), Case("toy", "shared", "function", "CPU:0", "tiny"), Session(PLANNED_PROFILE))
    assert record["measured_steps"] == PLANNED_PROFILE.min_rounds


def test_a_paired_case_keeps_one_reference_per_round():
    bench = FakeBenchmark(np.random.default_rng(0).lognormal(-7, 0.5, 1000))
    record = run_case(bench, Toy(), Case("toy", "retracing", "function", "CPU:0", "tiny"), Session(PLANNED_PROFILE))
    assert len(record["shared_samples_s"]) == len(Timer(bench).summary()["data"]) == record["measured_steps"]
    assert record["measured_steps"] == PLANNED_PROFILE.min_rounds


def test_memory_window_counts_per_step_whatever_the_timed_rounds():
    _, record = _run("retracing", "function")
    assert record["memory_window_steps"] == PROFILE.memory_steps
    assert record["cache_entries_per_step"] == 1.0  # a new Python scalar each step: one entry kept
    assert (record["variables_created_per_step"], record["variables_alive_per_step"]) == (0.0, 0.0)
    assert record["retained_unavailable"] is None
    parts = [record[f"retained_{name}_bytes_per_step"] for name in ("native_heap", "python_heap", "allocator")]
    assert record["retained_bytes_per_step"] == pytest.approx(sum(p for p in parts if p is not None), abs=0.2)
    assert record["retained_components"].startswith("native heap + pymalloc")


def test_a_shared_step_keeps_no_cache_entries():
    _, record = _run("shared", "function")
    assert record["cache_entries_per_step"] == 0.0


def test_a_refused_variant_has_no_retained_figure_and_says_why():
    _, record = _run("refused", "function")
    assert record["retained_bytes_per_step"] is None and record["memory_window_steps"] == 0
    assert record["retained_unavailable"] == "not measured: TensorFlow refused the variant"


def test_memory_window_is_as_long_as_the_profile_allows():
    profile = Profile("test", rounds=5, min_rounds=5, warmup_steps=1, phase_seconds=1,
                      memory_steps=40, memory_min_steps=10, memory_seconds=4.0)
    assert profile.memory_window_steps(0.001) == 40
    assert profile.memory_window_steps(0.2) == 20
    assert profile.memory_window_steps(2.0) == 10
    assert profile.memory_window_steps(0.0) == 40


class Learner(Scenario):
    """A one-weight SGD step that notes whether op determinism was on each time it ran."""

    name = "learner"
    variants = ("shared",)
    sizes = {"tiny": {}}
    learning_steps = 3

    def __init__(self):
        self.determinism_seen: list[bool] = []

    def shared(self, ctx):
        from tensorflow.python.framework import config as tf_config

        weight = tf.Variable(2.0)

        def step():
            self.determinism_seen.append(tf_config.is_op_determinism_enabled())
            weight.assign_sub(0.1 * weight)

        return Step(step, evaluate=lambda: {"loss": float(weight) ** 2})


def test_learning_runs_with_op_determinism_and_timed_steps_without():
    from tensorflow.python.framework import config as tf_config

    scenario = Learner()
    record = run_case(FakeBenchmark(), scenario, Case("learner", "shared", "eager", "CPU:0", "tiny"), Session(PROFILE))
    timed = 1 + PROFILE.warmup_steps + PROFILE.rounds + record["memory_window_steps"]
    assert scenario.determinism_seen == [False] * timed + [True] * Learner.learning_steps
    assert record["learning_deterministic_ops"] is True
    assert not tf_config.is_op_determinism_enabled()
    schema.validate(record)


class TwoLearners(Learner):
    """Learner with a second variant that steps the same way; counts how often `shared` is built."""

    variants = ("shared", "other")

    def __init__(self):
        super().__init__()
        self.shared_built = 0

    def shared(self, ctx):
        self.shared_built += 1
        return super().shared(ctx)

    def other(self, ctx):
        return super().shared(ctx)


def test_a_session_trains_and_builds_shared_once_per_situation_for_all_its_variants():
    scenario, session = TwoLearners(), Session(PROFILE)
    shared = run_case(FakeBenchmark(), scenario, Case("learner", "shared", "eager", "CPU:0", "tiny"), session)
    assert scenario.shared_built == 2  # its case's step, and its learning run
    other = run_case(FakeBenchmark(), scenario, Case("learner", "other", "eager", "CPU:0", "tiny"), session)
    assert scenario.shared_built == 2  # the variant is timed beside, and compared with, what `shared` left
    assert other["learning_retained"] == shared["learning_retained"] == 1.0
    run_case(FakeBenchmark(), scenario, Case("learner", "other", "eager", "CPU:0", "tiny"), Session(PROFILE))
    assert scenario.shared_built == 4  # a new session builds and trains its own reference


def test_a_timing_only_process_times_and_counts_but_runs_no_memory_window_or_learning():
    from dataclasses import replace

    from tfreuse.engine.harness import TIMING_ONLY

    scenario = Learner()
    timing_only = replace(PROFILE, timing_only=True)
    record = run_case(FakeBenchmark(), scenario, Case("learner", "shared", "eager", "CPU:0", "tiny"),
                      Session(timing_only))
    assert len(scenario.determinism_seen) == 1 + PROFILE.warmup_steps + PROFILE.rounds  # no window, no learning
    assert record["measured_steps"] == PROFILE.rounds and record["memory_window_steps"] == 0
    assert record["retained_bytes_per_step"] is None and record["retained_unavailable"] == TIMING_ONLY
    assert "learning_retained" not in record
    _, retracing = _run("retracing", "function", profile=timing_only)
    assert retracing["traces_per_step"] == 1.0  # counted in the timed rounds all the same
    schema.validate(record)


class _Toggled:
    """A stand-in for conditions.deterministic_ops that leaves determinism off."""

    def __enter__(self):
        return False

    def __exit__(self, *exc):
        return False


def test_op_determinism_does_not_change_learning_figures_on_cpu(monkeypatch):
    from tfreuse.engine import conditions

    from benchmarks.test_training_loop import TrainingLoop

    figures = ("loss_initial", "loss_final", "learning_retained")
    cases = [Case("training_loop", variant, mode, "CPU:0", "small")
             for variant, mode in (("shared", "function"), ("reinitialized", "eager"))]
    on = [run_case(FakeBenchmark(), TrainingLoop(), case, Session(PROFILE)) for case in cases]
    monkeypatch.setattr(conditions, "deterministic_ops", _Toggled)
    off = [run_case(FakeBenchmark(), TrainingLoop(), case, Session(PROFILE)) for case in cases]
    assert [r["learning_deterministic_ops"] for r in on + off] == [True, True, False, False]
    assert [[r[f] for f in figures] for r in on] == [[r[f] for f in figures] for r in off]


class Logged(Scenario):
    """A step that only notes it ran, to see what the harness puts around it."""

    name = "logged"
    variants = ("shared",)
    sizes = {"tiny": {}}

    def __init__(self, log):
        self.log = log

    def shared(self, ctx):
        return lambda: self.log.append("step")


def test_every_gpu_step_is_followed_by_a_wait_on_that_gpu_only(monkeypatch):
    from tensorflow.python.eager import context

    log = []
    monkeypatch.setattr(tf.raw_ops, "SyncDevice",
                        lambda name=None: log.append("sync " + context.context().device_name.rsplit("/", 1)[-1]))
    monkeypatch.setattr(context, "async_wait", lambda: log.append("async_wait"))
    bench = FakeBenchmark()
    # GPU:1 is absent here: TensorFlow soft-places the ops on the CPU, the harness still waits on GPU:1.
    record = run_case(bench, Logged(log), Case("logged", "shared", "eager", "GPU:1", "tiny"), Session(PROFILE))
    steps = 1 + PROFILE.warmup_steps + PROFILE.rounds + record["memory_window_steps"]
    assert log == ["step", "sync device:GPU:1", "async_wait"] * steps
    assert record["device"] == "GPU:1" and record["measured_steps"] == PROFILE.rounds


def test_first_line_sees_through_keras_call_wrapper_inside_and_outside_tf_function():
    import keras

    from tfreuse.core.errors import first_line

    class AssignsInCall(keras.layers.Layer):
        def call(self, x):
            self.dense = keras.layers.Dense(2)
            return self.dense(x)

    for call in (AssignsInCall(), tf.function(AssignsInCall())):
        with pytest.raises(ValueError) as raised:
            call(tf.ones((1, 3)))
        assert first_line(raised.value).startswith("You cannot add new elements of state")
