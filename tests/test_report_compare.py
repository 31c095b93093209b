"""`tfreuse compare`: exact figures gated in every comparison, timing only in a same-job A/B."""

import json

import pytest

from tfreuse.commands.ab import MANIFEST
from tfreuse.commands.cli import main
from tfreuse.report.compare import ACROSS_RUNS, SAME_JOB, compare, markdown, measurement
from tfreuse.report.load import ReportInputError, load

from tests.report_helpers import MACHINE_A, derived_run

JITTER = (1.0, 1.02, 0.98)  # three processes of one side, each a little off the others


def _processes(folder, slowdown=1.0, extra_traces=0.0, first_second=0):
    """Three runs of one measurement (same commit, profile and machine; one process each)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [derived_run(folder, f"process-{i}.json", slowdown=slowdown * jitter, extra_traces=extra_traces,
                        stamp=f"2030-01-01T00:00:{first_second + i:02d}")
            for i, jitter in enumerate(JITTER)]


def _ab_folders(tmp_path, **candidate):
    """A base and a head folder that a manifest marks as one same-job A/B, as `tfreuse ab` leaves them."""
    _processes(tmp_path / "base")
    _processes(tmp_path / "head", first_second=10, **candidate)
    (tmp_path / MANIFEST).write_text(json.dumps({"kind": SAME_JOB, "sides": ["base", "head"]}))
    return str(tmp_path / "base"), str(tmp_path / "head")


def test_identical_results_have_no_regression(capsys):
    assert main(["compare", str(MACHINE_A), str(MACHINE_A)]) == 0
    assert "0 regression(s)" in capsys.readouterr().out


def test_same_job_slowdown_fails_the_gate(tmp_path, capsys):
    base, head = _ab_folders(tmp_path, slowdown=1.5)
    markdown_file = tmp_path / "summary.md"
    assert main(["compare", base, head, "--markdown", str(markdown_file)]) == 1
    out = capsys.readouterr().out
    assert "same-job A/B, 3 and 3 process(es)" in out
    assert "**slower**" in out and "+50.0% [" in out
    assert markdown_file.read_text() in out


def test_independent_runs_show_a_slowdown_but_do_not_gate_it(tmp_path, capsys):
    _processes(tmp_path / "one")
    _processes(tmp_path / "two", slowdown=1.5, first_second=10)
    assert main(["compare", str(tmp_path / "one"), str(tmp_path / "two")]) == 0
    out = capsys.readouterr().out
    assert "across runs" in out and "not gated" in out and "+50.0%" in out
    assert "**slower**" not in out


def test_a_retrace_per_step_fails_both_kinds(tmp_path, capsys):
    base, head = _ab_folders(tmp_path / "ab", extra_traces=1.0)
    assert main(["compare", base, head]) == 1
    _processes(tmp_path / "one")
    _processes(tmp_path / "two", extra_traces=1.0, first_second=10)
    assert main(["compare", str(tmp_path / "one"), str(tmp_path / "two")]) == 1
    assert "**more traces**" in capsys.readouterr().out


def test_equal_exact_figures_are_not_flagged(tmp_path):
    comparison = compare(load([MACHINE_A]), load([MACHINE_A]), kind=SAME_JOB)
    assert comparison.regressions.empty
    assert set(comparison.table["verdict"]) == {"~"}


def test_threshold_is_settable(tmp_path):
    base, head = _ab_folders(tmp_path, slowdown=1.3)
    assert main(["compare", base, head, "--threshold", "50"]) == 0
    assert main(["compare", base, head, "--threshold", "10"]) == 1


def test_faster_is_not_a_regression(tmp_path):
    base, head = _ab_folders(tmp_path, slowdown=0.5)
    comparison = compare(load([base]), load([head]), kind=SAME_JOB)
    assert comparison.regressions.empty and set(comparison.table["verdict"]) == {"faster"}


def _with(loaded, column, values):
    loaded.rows[column] = values
    return loaded


def test_more_variables_or_retained_memory_per_step_is_a_regression():
    base, more = load([MACHINE_A]), load([MACHINE_A])
    more.rows["variables_created"] = more.rows["variables_created"] + more.rows["measured_steps"]
    assert set(compare(base, more).regressions["verdict"]) == {"more variables"}
    kept = _with(load([MACHINE_A]), "retained_bytes_per_step", 4096.0)
    grown = _with(load([MACHINE_A]), "retained_bytes_per_step", 4096.0 + 20_000)
    within = _with(load([MACHINE_A]), "retained_bytes_per_step", 4096.0 + 1024)  # noise seen between runs
    assert set(compare(kept, grown).regressions["verdict"]) == {"retains more memory"}
    assert "| 4.0 KiB → 23.5 KiB |" in markdown(compare(kept, grown))  # the unit of report and guard
    assert compare(kept, within).regressions.empty
    large = _with(load([MACHINE_A]), "retained_bytes_per_step", 4e6)
    assert compare(large, _with(load([MACHINE_A]), "retained_bytes_per_step", 4.3e6)).regressions.empty
    assert set(compare(large, _with(load([MACHINE_A]), "retained_bytes_per_step", 4.5e6))
               .regressions["verdict"]) == {"retains more memory"}


def test_a_file_without_retained_memory_is_not_compared_on_it():
    old, new = load([MACHINE_A]), _with(load([MACHINE_A]), "retained_bytes_per_step", 1e9)
    assert old.rows["retained_bytes_per_step"].isna().all()  # the fixture predates the key
    comparison = compare(old, new)
    assert comparison.regressions.empty
    old.rows = old.rows.drop(columns="retained_bytes_per_step")  # a loader that never knew the key
    comparison = compare(old, new)
    assert comparison.regressions.empty
    assert comparison.table["retained_base"].isna().all()


def test_newly_refused_is_a_regression():
    refused = load([MACHINE_A])
    refused.rows.loc[refused.rows["variant"] == "reinstantiated", "outcome"] = "error"
    verdicts = compare(load([MACHINE_A]), refused).regressions["verdict"]
    assert len(verdicts) and set(verdicts) == {"now refused"}


def test_a_side_is_the_processes_of_its_latest_commit_and_profile(tmp_path):
    derived_run(tmp_path, "old.json", stamp="2029-01-01T00:00:00", commit="old", slowdown=9.0)
    _processes(tmp_path, first_second=0)
    rows = measurement(load([tmp_path]).rows)
    assert rows["run"].nunique() == 3 and set(rows["commit"]) == {"fixture"}
    comparison = compare(load([tmp_path]), load([tmp_path]), kind=SAME_JOB)
    assert comparison.processes == (3, 3)


def test_intervals_shown_over_processes(tmp_path):
    base, head = _ab_folders(tmp_path)
    table = compare(load([base]), load([head]), kind=SAME_JOB).table
    assert (table["median_low_base"] <= table["median_base"]).all()
    assert (table["median_base"] <= table["median_high_base"]).all()
    assert (table["change_low"] <= 0).all() and (table["change_high"] >= 0).all()
    ratios = table[table["ratio_cand"].notna() & (table["ratio_cand"] != 1)]
    assert len(ratios) and (ratios["ratio_low_cand"] < ratios["ratio_high_cand"]).all()


def test_one_process_a_side_in_a_same_job_comparison_is_warned_about():
    comparison = compare(load([MACHINE_A]), load([MACHINE_A]), kind=SAME_JOB)
    assert any("1 process(es) on a side" in warning for warning in comparison.warnings)
    assert not any("process(es) on a side" in w for w in compare(load([MACHINE_A]), load([MACHINE_A])).warnings)


def test_different_machines_are_compared_with_a_warning(tmp_path):
    other = derived_run(tmp_path, "b.json", label="machine-b")
    comparison = compare(load([MACHINE_A]), load([other]))
    assert comparison.warnings[0].startswith("comparing different machines")
    assert comparison.kind == ACROSS_RUNS


def test_no_common_machine_among_several_is_an_error(tmp_path):
    b = derived_run(tmp_path, "b.json", label="machine-b")
    c = derived_run(tmp_path, "c.json", label="machine-c")
    with pytest.raises(ReportInputError, match="share no machine label"):
        compare(load([MACHINE_A, b]), load([c, derived_run(tmp_path, "d.json", label="machine-d")]))


def test_bad_input_exits_2(tmp_path):
    assert main(["compare", str(MACHINE_A), str(tmp_path / "missing")]) == 2
