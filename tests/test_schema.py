from pathlib import Path

import pytest

from tfreuse.core import schema
from tfreuse.core.profiles import PROFILES
from tfreuse.engine.harness import Case, _base_record

METHODOLOGY = Path(__file__).resolve().parents[1] / "docs" / "methodology.md"


def _record(**changes):
    case = Case("shared_layer", "shared", "function", "CPU:0", "small")
    return {**_base_record(case, {"units": 4}, PROFILES["smoke"]), **changes}


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
