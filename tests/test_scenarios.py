"""Deterministic outcomes of each scenario: traces, variables, parameters, refusals and learning."""

import pytest
import tensorflow as tf

from benchmarks import test_attention, test_function_rules, test_recurrent
from benchmarks import test_training_loop, test_transfer_learning
from tfreuse.harness import Case, run_case
from tfreuse.profiles import Profile

from tests.fakes import FakeBenchmark

PROFILE = Profile("test", rounds=4, min_rounds=4, warmup_steps=1, phase_seconds=60)


def run(scenario, variant, mode, size=None):
    case = Case(scenario.name, variant, mode, "CPU:0", size or next(iter(scenario.sizes)))
    return run_case(FakeBenchmark(), scenario, case, PROFILE)


class TestTrainingLoop:
    scenario = test_training_loop.TrainingLoop()

    @pytest.mark.parametrize("mode", ["eager", "function"])
    def test_shared_learns(self, mode):
        record = run(self.scenario, "shared", mode)
        assert record["loss_final"] < 0.1 * record["loss_initial"]
        assert record["learning_retained"] == 1.0

    @pytest.mark.parametrize("variant", ["reinitialized", "recreated"])
    def test_reinitializing_throws_learning_away(self, variant):
        record = run(self.scenario, variant, "eager")
        assert record["learning_retained"] < 0.25
        assert record["loss_final"] > 0.5 * record["loss_initial"]

    def test_creating_the_weight_every_call_is_refused_inside_tf_function(self):
        record = run(self.scenario, "recreated", "function")
        assert (record["outcome"], record["error_type"]) == ("error", "ValueError")
        assert "singleton tf.Variables" in record["error_message"]

    def test_recreated_eagerly_makes_a_weight_every_step(self):
        record = run(self.scenario, "recreated", "eager")
        assert record["variables_created"] >= PROFILE.rounds

    def test_guarded_creation_traces_twice_on_the_first_call_only(self):
        record = run(self.scenario, "mitigated", "function")
        assert (record["first_step_trace_events"], record["trace_events"]) == (2, 0)

    def test_guarded_creation_learns_without_retracing(self):
        record = run(self.scenario, "mitigated", "function")
        assert record["learning_retained"] == pytest.approx(1.0, abs=1e-4)
        assert record["trace_events"] == 0


class TestTransferLearning:
    scenario = test_transfer_learning.TransferLearning()

    def test_the_seeds_head_built_from_input_width_fails(self):
        size = self.scenario.sizes["small"]
        extractor = test_transfer_learning._extractor(size)
        x = tf.ones((1, size["features"]))
        # The seed's NewTaskLayer: its kernel sized from the input width, then fed the features.
        head_kernel = tf.Variable(tf.zeros((x.shape[-1], size["outputs"])))
        with pytest.raises(tf.errors.InvalidArgumentError, match="Matrix size-incompatible"):
            tf.matmul(extractor(x), head_kernel)

    @pytest.mark.parametrize("variant", ["shared", "reinstantiated"])
    def test_pretrained_weights_stay_put(self, variant):
        assert run(self.scenario, variant, "function")["frozen_weight_drift"] == 0.0

    def test_reinitialized_loses_the_pretrained_weights_and_learns_less(self):
        record = run(self.scenario, "reinitialized", "eager")
        assert record["frozen_weight_drift"] > 0.1
        assert record["learning_retained"] < 1.0

    def test_freezing_after_tracing_is_ignored_by_tf_function(self):
        assert run(self.scenario, "frozen_after_trace", "function")["frozen_weight_drift"] > 0.01

    def test_freezing_after_a_step_holds_in_eager_mode(self):
        assert run(self.scenario, "frozen_after_trace", "eager")["frozen_weight_drift"] == 0.0

    def test_retracing_after_freezing_fixes_it(self):
        assert run(self.scenario, "mitigated", "function")["frozen_weight_drift"] == 0.0

    def test_reloading_every_step_retraces_every_step(self):
        record = run(self.scenario, "reinstantiated", "function")
        assert record["trace_events"] == PROFILE.rounds


class TestRecurrent:
    scenario = test_recurrent.SCENARIO

    def test_per_timestep_weights_grow_with_length_shared_do_not(self):
        sizes = list(self.scenario.sizes)
        shared = [run(self.scenario, "shared", "eager", s)["param_bytes"] for s in sizes[:2]]
        unrolled = [run(self.scenario, "per_timestep", "eager", s)["param_bytes"] for s in sizes[:2]]
        lengths = [self.scenario.sizes[s]["timesteps"] for s in sizes[:2]]
        assert shared[0] == shared[1]
        assert unrolled == [shared[0] * n for n in lengths]

    def test_reinstantiated_retraces_and_mitigated_does_not(self):
        assert run(self.scenario, "reinstantiated", "function")["traces_per_step"] == 1.0
        assert run(self.scenario, "mitigated", "function")["trace_events"] == 0


class TestAttention:
    scenario = test_attention.SCENARIO

    def test_per_position_projections_cost_one_set_per_position(self):
        size = next(iter(self.scenario.sizes))
        shared = run(self.scenario, "shared", "eager", size)["param_bytes"]
        per_position = run(self.scenario, "per_position", "eager", size)["param_bytes"]
        assert per_position == shared * self.scenario.sizes[size]["positions"]

    def test_reinstantiated_creates_six_variables_a_step(self):
        record = run(self.scenario, "reinstantiated", "eager")
        assert record["variables_created"] == 6 * PROFILE.rounds


class TestFunctionRules:
    scenario = test_function_rules.FunctionRules()

    def test_creation_on_every_call_is_refused(self):
        record = run(self.scenario, "creation_every_call", "function")
        assert record["error_type"] == "ValueError"

    def test_guarded_creation_is_allowed_and_traced_once(self):
        record = run(self.scenario, "guarded_creation", "function")
        assert record["outcome"] == "ok" and record["trace_events"] == 0

    @pytest.mark.parametrize("variant", ["new_object_arg", "new_object_arg_reduce_retracing"])
    def test_new_object_per_call_retraces_and_the_entries_outlive_the_objects(self, variant):
        record = run(self.scenario, variant, "function")
        assert record["trace_events"] == PROFILE.rounds
        assert record["tracing_cache_delta"] == PROFILE.rounds
        assert record["live_variables_delta"] == 0  # the layers are gone, their entries stay

    @pytest.mark.parametrize("variant", ["shared", "mitigated"])
    def test_shared_object_or_tensor_arguments_trace_once(self, variant):
        assert run(self.scenario, variant, "function")["trace_events"] == 0
