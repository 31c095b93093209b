from pathlib import Path

import pytest

from tfreuse.core import schema
from tfreuse.core.profiles import PROFILES
from tfreuse.engine import isolation
from tfreuse.engine.harness import Case, base_record
from tfreuse.probes import instructions

METHODOLOGY = Path(__file__).resolve().parents[1] / "docs" / "methodology.md"


def _record(**changes):
    case = Case("shared_layer", "shared", "function", "CPU:0", "small")
    return {**base_record(case, {"units": 4}, PROFILES["smoke"]), **changes}


def test_base_record_matches_schema():
    schema.validate(_record())


def test_issue_keys_are_all_in_the_schema():
    required = """schema_version scenario variant mode device size outcome first_step_s trace_events
        traces_per_step tracing_cache_delta rss_growth_per_step_bytes rss_peak_delta_bytes
        live_variables_delta allocator_peak_bytes""".split()
    assert set(required) <= set(schema.FIELDS_BY_NAME)


@pytest.mark.parametrize("changes, problem", [
    ({"trace_events": "3"}, "'trace_events' is str"),
    ({"trace_events": True}, "'trace_events' is bool"),
    ({"outcome": "maybe"}, "outcome is 'maybe'"),
    ({"schema_version": 99}, "schema_version is 99"),
    ({"made_up": 1}, "undocumented key 'made_up'"),
    ({"variant": None}, "'variant' is null"),
])
def test_departures_are_named(changes, problem):
    with pytest.raises(schema.SchemaError, match=problem.replace("(", r"\(")):
        schema.validate(_record(**changes))


def test_missing_key_is_named():
    record = _record()
    del record["rss_peak_delta_bytes"]
    assert schema.problems(record) == ["missing key 'rss_peak_delta_bytes'"]


def test_nullable_fields_accept_null():
    schema.validate(_record(allocator_peak_bytes=None, first_step_s=None))


def test_methodology_schema_table_is_the_generated_one():
    assert schema.markdown_table() in METHODOLOGY.read_text(encoding="utf-8")


def test_a_fresh_record_is_every_fields_default_and_the_case():
    record = _record()
    assert list(record) == [field.name for field in schema.FIELDS]
    assert {key: value for key, value in record.items() if value is not None} == {
        "schema_version": schema.SCHEMA_VERSION, "scenario": "shared_layer", "variant": "shared",
        "mode": "function", "device": "CPU:0", "size": "small", "size_params": {"units": 4}, "profile": "smoke",
        "variant_role": "baseline", "variant_phrase": "the shared variant", "fix_restores": [],
        "mode_phrase": "inside tf.function",
        "outcome": "ok", "first_step_trace_events": 0, "measured_steps": 0, "trace_events": 0,
        "traces_per_step": 0.0, "tracing_cache_delta": 0, "variables_created": 0, "live_variables_delta": 0,
        "memory_window_steps": 0, "rss_growth_per_step_bytes": 0.0, "rss_peak_delta_bytes": 0,
        "retained_unavailable": "not measured: TensorFlow refused the variant", "probe_process": "same",
        "instruction_steps": 0, "instructions_unavailable": instructions.NOT_COUNTED}
    assert isinstance(record["traces_per_step"], float) and isinstance(record["rss_growth_per_step_bytes"], float)


MEANING = {"variant_role": "anti-pattern", "variant_phrase": "v", "fix_restores": [], "mode_phrase": "in eager mode"}


@pytest.mark.parametrize("identity, problem", [
    ({"scenario": "s", "variant": "v", "mode": "eager", "device": "CPU:0", "size": "small", "size_params": {},
      **MEANING}, r"missing identity \['profile'\], unknown keys \[\]"),
    ({"scenario": "s", "variant": "v", "mode": "eager", "device": "CPU:0", "size": "small", "size_params": {},
      "profile": "quick", "outcome": "error", **MEANING}, r"missing identity \[\], unknown keys \['outcome'\]"),
])
def test_a_fresh_record_needs_exactly_the_cases_identity(identity, problem):
    with pytest.raises(TypeError, match=problem):
        schema.new_record(**identity)


def test_every_field_names_a_known_group():
    assert {field.group for field in schema.FIELDS + schema.SCENARIO_FIELDS} == set(schema.GROUPS)
    assert schema.names(schema.SCENARIO) == tuple(field.name for field in schema.SCENARIO_FIELDS)
    with pytest.raises(ValueError, match="group 'figures' is not one of"):
        schema.Field("made_up", (int,), "-", "A field of no group.", group="figures")


def test_a_fresh_process_hands_back_the_probe_figures():
    assert set(isolation.FIGURES) == {
        "first_step_trace_events", "measured_steps", "trace_events", "traces_per_step", "tracing_cache_delta",
        "variables_created", "live_variables_delta", "rss_growth_per_step_bytes", "rss_peak_delta_bytes",
        "allocator_current_delta_bytes", "allocator_peak_bytes", "allocator_peak_delta_bytes",
        "memory_window_steps", "retained_bytes_per_step", "retained_components", "retained_unavailable",
        "retained_native_heap_bytes_per_step", "retained_python_heap_bytes_per_step",
        "retained_allocator_bytes_per_step", "cache_entries_per_step", "variables_created_per_step",
        "variables_alive_per_step", "descriptors_per_step", "threads_per_step"}
