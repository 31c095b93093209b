import pytest

from tfreuse.cli import main
from tfreuse.report.compare import compare
from tfreuse.report.load import ReportInputError, load

from tests.report_helpers import MACHINE_A, derived_run


def test_identical_results_have_no_regression(tmp_path, capsys):
    assert main(["compare", str(MACHINE_A), str(MACHINE_A)]) == 0
    assert "0 regression(s)" in capsys.readouterr().out


def test_significant_slowdown_fails_the_gate(tmp_path, capsys):
    slower = derived_run(tmp_path, "slower.json", slowdown=1.5, stamp="2030-01-01T00:00:00")
    markdown_file = tmp_path / "summary.md"
    assert main(["compare", str(MACHINE_A), str(slower), "--markdown", str(markdown_file)]) == 1
    out = capsys.readouterr().out
    assert "**slower**" in out and "+50.0%" in out
    assert markdown_file.read_text() in out


def test_threshold_is_settable(tmp_path):
    slower = derived_run(tmp_path, "slower.json", slowdown=1.3, stamp="2030-01-01T00:00:00")
    assert main(["compare", str(MACHINE_A), str(slower), "--threshold", "50"]) == 0
    assert main(["compare", str(MACHINE_A), str(slower), "--threshold", "10"]) == 1


def test_more_traces_is_a_regression_even_without_a_slowdown(tmp_path):
    retracing = derived_run(tmp_path, "traces.json", extra_traces=1.0, stamp="2030-01-01T00:00:00")
    comparison = compare(load([MACHINE_A]), load([retracing]))
    assert set(comparison.regressions["verdict"]) == {"more traces"}


def test_faster_is_not_a_regression(tmp_path):
    faster = derived_run(tmp_path, "faster.json", slowdown=0.5, stamp="2030-01-01T00:00:00")
    comparison = compare(load([MACHINE_A]), load([faster]))
    assert comparison.regressions.empty and "faster" in set(comparison.table["verdict"])


def test_different_machines_are_compared_with_a_warning(tmp_path):
    other = derived_run(tmp_path, "b.json", label="machine-b")
    comparison = compare(load([MACHINE_A]), load([other]))
    assert comparison.warnings[0].startswith("comparing different machines")


def test_no_common_machine_among_several_is_an_error(tmp_path):
    b = derived_run(tmp_path, "b.json", label="machine-b")
    c = derived_run(tmp_path, "c.json", label="machine-c")
    with pytest.raises(ReportInputError, match="share no machine label"):
        compare(load([MACHINE_A, b]), load([c, derived_run(tmp_path, "d.json", label="machine-d")]))


def test_bad_input_exits_2(tmp_path):
    assert main(["compare", str(MACHINE_A), str(tmp_path / "missing")]) == 2
