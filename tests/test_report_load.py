import hashlib
import shutil

import pytest

from tfreuse.core import schema
from tfreuse.report import load as load_module
from tfreuse.report.load import FIGURE_COLUMNS, ReportInputError, load, upgrade

from tests.report_helpers import FIXTURES, MACHINE_A, derived_run


def test_tfreuse_run_becomes_one_row_per_benchmark_with_every_figure():
    loaded = load([MACHINE_A])
    rows = loaded.rows
    assert len(rows) == 16 and rows["tfreuse"].all()
    assert set(FIGURE_COLUMNS) <= set(rows.columns)
    assert {"machine", "run", "source", "median", "samples"} <= set(rows.columns)
    assert rows["machine"].nunique() == 1 and loaded.warnings == []
    assert all(len(s) == r for s, r in zip(rows["samples"], rows["rounds"]))


@pytest.mark.parametrize("name, version, median", [("other_suite_v3.json", "3.2.3", 0.0012),
                                                   ("other_suite_v4.json", "4.0.0", 0.0002),
                                                   ("other_suite_v5.json", "5.1.0", 0.0002)])
def test_other_suites_are_read_as_generic_rows(name, version, median):
    loaded = load([FIXTURES / name])
    row = loaded.rows.iloc[0]
    assert not row["tfreuse"] and row["median"] == median and row["outcome"] == "ok"
    assert loaded.warnings == [f"{FIXTURES / name}: no tfreuse fields; read as generic pytest-benchmark rows"]
    assert next(iter(loaded.machines.values()))["version"] == version


def test_a_folder_is_searched_recursively_and_bad_files_are_skipped_by_name():
    loaded = load([FIXTURES])
    skipped = {w.split(":")[0].rsplit("/", 1)[-1]: w for w in loaded.warnings if w.endswith("skipped")}
    assert set(skipped) == {"not_json.json", "truncated.json", "other_tool_asv.json"}
    assert "not valid JSON" in skipped["not_json.json"]
    assert "not valid JSON" in skipped["truncated.json"]
    assert "not pytest-benchmark JSON (no 'benchmarks' list)" in skipped["other_tool_asv.json"]
    assert len(loaded.rows) == 16 + 3


def test_missing_path_is_an_error_naming_it(tmp_path):
    with pytest.raises(ReportInputError, match=f"{tmp_path / 'nope'}: no such file or folder"):
        load([tmp_path / "nope"])


def test_empty_folder_leaves_nothing_usable(tmp_path):
    with pytest.raises(ReportInputError, match="no usable benchmark results"):
        load([tmp_path])


def test_only_bad_files_leave_nothing_usable():
    with pytest.raises(ReportInputError, match=r"no usable benchmark results .*\(1 file\(s\) skipped\)"):
        load([FIXTURES / "not_json.json"])


def test_duplicate_runs_are_read_once(tmp_path):
    shutil.copy(MACHINE_A, tmp_path / "copy.json")
    loaded = load([MACHINE_A, tmp_path / "copy.json"])
    assert len(loaded.rows) == 16
    assert loaded.warnings == [f"{tmp_path / 'copy.json'}: duplicate of {MACHINE_A} (same machine and run); skipped"]


def test_runs_from_two_machines_line_up_by_label(tmp_path):
    other = derived_run(tmp_path, "b.json", label="machine-b")
    loaded = load([MACHINE_A, other])
    assert sorted(loaded.rows["machine"].unique()) == ["amd-epyc-2c-237aed", "machine-b"]
    assert set(loaded.machines) == {"amd-epyc-2c-237aed", "machine-b"}


def test_inputs_are_never_modified(tmp_path):
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in FIXTURES.iterdir()}
    load([FIXTURES])
    assert before == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in FIXTURES.iterdir()}


def test_every_older_version_has_one_upgrade_step():
    assert sorted(load_module._UPGRADES) == list(range(1, schema.SCHEMA_VERSION))


def test_a_version_1_record_gets_its_variables_per_step_from_the_timed_rounds():
    old = {"schema_version": 1, "measured_steps": 20, "variables_created": 40, "variant": "reinstantiated"}
    assert upgrade(old) == {**old, "variables_created_per_step": 2.0, "variant_role": "anti-pattern",
                            "variant_phrase": "the reinstantiated variant", "fix_restores": [], "mode_phrase": None}
    assert "variables_created_per_step" not in old  # the record read is never changed
    refused = {"schema_version": 1, "measured_steps": 0, "variables_created": 0}
    assert upgrade(refused) == refused


def test_a_version_4_record_gets_the_meaning_its_variants_name_gives_unless_it_says_its_own():
    old = {"schema_version": 4, "variant": "mitigated_cache", "mode": "jit"}
    assert upgrade(old) == {**old, "variant_role": "fix", "variant_phrase": "the mitigated_cache variant",
                            "fix_restores": ["time", "traces", "learning"], "mode_phrase": "under XLA"}
    annotated = {**old, "variant_role": "anti-pattern", "variant_phrase": "a cache", "fix_restores": [],
                 "mode_phrase": "with XLA"}
    assert upgrade(annotated) == annotated


def test_a_version_2_record_loses_the_fields_version_3_dropped():
    old = {"schema_version": 2, "precision_target": 0.045, "rounds_stop": "precise", "variables_created_per_step": 2.0}
    assert upgrade(old) == {"schema_version": 2, "variables_created_per_step": 2.0}


@pytest.mark.parametrize("record", [
    {"schema_version": 3, "measured_steps": 20, "variables_created": 40, "variables_created_per_step": None},
    {"schema_version": schema.SCHEMA_VERSION, "measured_steps": 20, "variables_created": 40,
     "variables_created_per_step": None},
    {"name": "another suite's extra_info"},
])
def test_a_recent_record_or_another_suites_is_left_as_it_is(record):
    assert upgrade(record) == record  # a timing-only process's null per-step count stays null


def test_a_version_1_file_loads_in_the_current_layout():
    rows = load([MACHINE_A]).rows
    assert set(rows["schema_version"]) == {1}
    assert list(rows[list(FIGURE_COLUMNS)].columns) == list(FIGURE_COLUMNS)
    measured = rows[rows["measured_steps"] > 0]
    assert len(measured) == 15 and rows.loc[rows["measured_steps"] == 0, "variables_created_per_step"].isna().all()
    assert (measured["variables_created_per_step"] == measured["variables_created"] / measured["measured_steps"]).all()
    assert "precision_target" not in rows and "rounds_stop" not in rows
