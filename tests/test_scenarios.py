"""Deterministic outcomes of each scenario: traces, variables, parameters, refusals and learning."""

import functools

import pytest
import tensorflow as tf

from benchmarks import (
    test_attention,
    test_function_in_loop,
    test_function_rules,
    test_layers_in_call,
    test_load_per_request,
    test_model_in_loop,
    test_predict_in_loop,
    test_python_scalar_args,
    test_recompile_in_loop,
    test_recurrent,
    test_training_loop,
    test_transfer_learning,
)
from tests.fakes import SCENARIO_PROFILE, run_scenario

pytestmark = pytest.mark.slow  # every test steps a scenario's variants with real TensorFlow



run = run_scenario


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
        assert record["variables_created"] >= SCENARIO_PROFILE.rounds

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
        assert record["trace_events"] == SCENARIO_PROFILE.rounds


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
        assert record["variables_created"] == 6 * SCENARIO_PROFILE.rounds


class TestFunctionRules:
    scenario = test_function_rules.FunctionRules()

    def test_creation_on_every_call_is_refused(self):
        record = run(self.scenario, "creation_every_call", "function")
        assert record["error_type"] == "ValueError"
        assert record["error_message"].startswith(
            "tf.function only supports singleton tf.Variables created on the first call")

    def test_guarded_creation_is_allowed_and_traced_once(self):
        record = run(self.scenario, "guarded_creation", "function")
        assert record["outcome"] == "ok" and record["trace_events"] == 0

    @pytest.mark.parametrize("variant", ["new_object_arg", "new_object_arg_reduce_retracing"])
    def test_new_object_per_call_retraces_and_the_entries_outlive_the_objects(self, variant):
        record = run(self.scenario, variant, "function")
        assert record["trace_events"] == SCENARIO_PROFILE.rounds
        assert record["tracing_cache_delta"] == SCENARIO_PROFILE.rounds
        assert record["live_variables_delta"] == 0  # the layers are gone, their entries stay

    @pytest.mark.parametrize("variant", ["shared", "mitigated"])
    def test_shared_object_or_tensor_arguments_trace_once(self, variant):
        assert run(self.scenario, variant, "function")["trace_events"] == 0


# The cases below are slow (a Keras fit or compile per step) and several tests read one case.
run_once = functools.cache(run)


class TestModelInLoop:
    scenario = test_model_in_loop.ModelInLoop()

    def test_one_model_reused_neither_retraces_nor_makes_variables(self):
        record = run_once(self.scenario, "shared", "function")
        assert (record["trace_events"], record["variables_created"]) == (0, 0)

    @pytest.mark.parametrize("variant", ["reinstantiated", "mitigated_clear_session", "mitigated_gc_collect"])
    def test_a_new_model_per_trial_traces_a_new_train_function_per_trial(self, variant):
        assert run_once(self.scenario, variant, "function")["trace_events"] == SCENARIO_PROFILE.rounds

    @pytest.mark.parametrize("variant", ["reinstantiated", "mitigated_clear_session", "mitigated_gc_collect"])
    def test_a_new_model_per_trial_makes_its_weights_optimizer_and_loss_tracker_anew(self, variant):
        # 4 weights, SGD's iteration and learning rate, the loss tracker's total and count; after
        # clear_session() too (it replaces the default graph, the census follows it).
        record = run_once(self.scenario, variant, "function")
        assert record["variables_created"] == 8 * SCENARIO_PROFILE.rounds
        assert record["variables_created_per_step"] == 8
        assert record["live_variables_delta"] == 0


class TestPredictInLoop:
    scenario = test_predict_in_loop.PredictInLoop()

    @pytest.mark.parametrize("variant", ["predict_per_batch", "mitigated_predict_on_batch"])
    def test_predict_reuses_its_function_its_cost_is_not_retracing(self, variant):
        record = run_once(self.scenario, variant, "function")
        assert (record["first_step_trace_events"], record["trace_events"]) == (1, 0)

    def test_eager_mode_runs_predict_without_tracing(self):
        assert run_once(self.scenario, "predict_per_batch", "eager")["first_step_trace_events"] == 0


class TestPythonScalarArgs:
    scenario = test_python_scalar_args.PythonScalarArgs()

    @pytest.mark.parametrize("mode", ["function", "jit"])
    @pytest.mark.parametrize("variant", ["python_scalar", "mitigated_scalar_reduce_retracing",
                                         "changing_shape"])
    def test_a_new_python_value_or_shape_traces_once_per_step(self, variant, mode):
        record = run_once(self.scenario, variant, mode)
        assert record["trace_events"] == record["tracing_cache_delta"] == SCENARIO_PROFILE.rounds
        assert record["traces_per_step"] == 1.0

    @pytest.mark.parametrize("variant", ["shared", "mitigated_scalar_as_variable",
                                         "mitigated_shape_input_signature",
                                         "mitigated_shape_reduce_retracing"])
    def test_a_tensor_a_variable_a_signature_or_a_generalised_shape_trace_no_more(self, variant):
        assert run_once(self.scenario, variant, "function")["trace_events"] == 0


class TestFunctionInLoop:
    scenario = test_function_in_loop.FunctionInLoop()

    @pytest.mark.parametrize("mode", ["function", "jit"])
    @pytest.mark.parametrize("variant", ["function_per_step", "method_per_object"])
    def test_a_function_made_per_step_is_traced_per_step(self, variant, mode):
        assert run_once(self.scenario, variant, mode)["trace_events"] == SCENARIO_PROFILE.rounds

    @pytest.mark.parametrize("variant", ["shared", "mitigated"])
    def test_a_function_made_once_is_traced_once(self, variant):
        record = run_once(self.scenario, variant, "function")
        assert (record["first_step_trace_events"], record["trace_events"]) == (1, 0)


class TestRecompileInLoop:
    scenario = test_recompile_in_loop.RecompileInLoop()
    steps = test_recompile_in_loop.RecompileInLoop.learning_steps

    @pytest.mark.parametrize("variant, slots_per_step", [("recompiled", 12), ("optimizer_per_step", 10)])
    def test_a_new_adam_every_step_loses_its_slots_and_its_step_count(self, variant, slots_per_step):
        # Adam: 2 moments for each of 4 weights, its iteration and learning rate; `compile` also
        # makes a new loss tracker (total and count).
        record = run_once(self.scenario, variant, "eager")
        assert record["optimizer_iterations"] == 1
        assert record["variables_created"] == slots_per_step * SCENARIO_PROFILE.rounds
        assert record["learning_retained"] < 0.9

    @pytest.mark.parametrize("variant", ["shared", "mitigated_same_optimizer", "mitigated_optimizer_once"])
    def test_one_adam_keeps_every_step(self, variant):
        record = run_once(self.scenario, variant, "eager")
        assert record["optimizer_iterations"] == self.steps
        assert record["learning_retained"] == pytest.approx(1.0, abs=1e-4)

    def test_recompiling_and_a_new_optimizer_lose_the_same_learning(self):
        recompiled = run_once(self.scenario, "recompiled", "eager")["learning_retained"]
        custom_loop = run_once(self.scenario, "optimizer_per_step", "eager")["learning_retained"]
        assert custom_loop == pytest.approx(recompiled, rel=1e-4)

    @pytest.mark.parametrize("variant, traces_per_step", [("recompiled", 2), ("mitigated_same_optimizer", 1)])
    def test_every_compile_traces_a_new_train_function(self, variant, traces_per_step):
        # A new optimizer makes its variables in the new function's first trace, so TensorFlow
        # traces it twice (with and without variable creation); the same optimizer, once.
        record = run_once(self.scenario, variant, "function")
        assert record["trace_events"] == traces_per_step * SCENARIO_PROFILE.rounds

    def test_a_new_optimizer_object_retraces_the_custom_step(self):
        assert run_once(self.scenario, "optimizer_per_step", "function")["trace_events"] == SCENARIO_PROFILE.rounds


class TestLoadPerRequest:
    scenario = test_load_per_request.LoadPerRequest()

    @pytest.mark.parametrize("variant", ["load_model_per_request", "load_weights_per_request"])
    def test_loading_per_request_makes_the_weights_anew_and_retraces_the_serving_function(self, variant):
        record = run_once(self.scenario, variant, "function")
        assert record["variables_created"] == 4 * SCENARIO_PROFILE.rounds
        assert record["trace_events"] == SCENARIO_PROFILE.rounds

    @pytest.mark.parametrize("variant", ["shared", "mitigated"])
    def test_loading_once_serves_every_request_from_one_trace(self, variant):
        record = run_once(self.scenario, variant, "function")
        assert (record["trace_events"], record["variables_created"]) == (0, 0)

    def test_every_variant_serves_the_saved_model(self):
        assert {run_once(self.scenario, v, "eager")["param_bytes"] for v in self.scenario.variants} == {5392}


class TestLayersInCall:
    scenario = test_layers_in_call.LayersInCall()

    def test_sub_layers_made_in_call_never_train(self):
        record = run_once(self.scenario, "reinstantiated", "eager")
        assert record["learning_retained"] == 0.0
        assert record["loss_final"] == record["loss_initial"]
        assert record["variables_created"] == 4 * SCENARIO_PROFILE.rounds

    @pytest.mark.parametrize("mode", ["eager", "function"])
    def test_sub_layers_made_in_build_train_like_those_made_in_init(self, mode):
        record = run_once(self.scenario, "mitigated", mode)
        assert record["learning_retained"] == pytest.approx(1.0, abs=1e-6)
        assert record["variables_created"] == 0

    def test_tf_function_refuses_sub_layers_made_in_call(self):
        record = run_once(self.scenario, "reinstantiated", "function")
        assert (record["outcome"], record["error_type"]) == ("error", "ValueError")
        assert record["error_message"].startswith("tf.function only supports singleton tf.Variables")

    @pytest.mark.parametrize("mode", ["eager", "function"])
    def test_keras_refuses_sub_layers_assigned_in_call(self, mode):
        record = run_once(self.scenario, "assigned_in_call", mode)
        assert (record["outcome"], record["error_type"]) == ("error", "ValueError")
        assert record["error_message"].startswith("You cannot add new elements of state")
