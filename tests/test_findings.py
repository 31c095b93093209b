"""The README's findings table: generated from the kept run, never typed; `tfreuse findings` as users run it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tfreuse.core.errors import UserInputError
from tfreuse.report.analyze import analyze, is_fix
from tfreuse.report.findings import BEGIN, END, replace_block, selected_rows, table
from tfreuse.report.load import load

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
KEPT_RUN = ROOT / "docs" / "findings-run"  # the processes of one `make bench` measurement
OTHER_MACHINE = ROOT / "tests" / "fixtures" / "tfreuse_machine_a.json"
TFREUSE = Path(sys.executable).with_name("tfreuse")  # the console script installed beside python


@pytest.fixture(scope="module")
def kept_block() -> str:
    return table(load([KEPT_RUN]))


def _block_in(text: str) -> str:
    return text.split(BEGIN + "\n", 1)[1].split(END, 1)[0]


def test_readme_table_is_the_one_generated_from_the_kept_run(kept_block):
    # Fails when the table is edited by hand, or the analysis changed without `make findings`.
    assert _block_in(README.read_text(encoding="utf-8")) == kept_block


def test_the_table_names_the_machine_and_tensorflow_version(kept_block):
    info = json.loads((KEPT_RUN / "process-01.json").read_text())["machine_info"]["tfreuse"]
    assert f"`{info['label']}`" in kept_block.splitlines()[0]
    assert f"TensorFlow {info['tensorflow']}" in kept_block.splitlines()[0]


def test_each_scenario_shows_its_costliest_recreation_then_its_fixes_in_that_situation():
    analyzed = analyze(load([KEPT_RUN]).rows)
    rows = selected_rows(analyzed)
    anti = analyzed[analyzed["ratio"].notna() & (analyzed["variant_role"] == "anti-pattern")]
    heads = rows[rows["role"] == "re-creates"]
    assert list(heads["scenario"]) == list(dict.fromkeys(heads["scenario"]))  # one row per scenario
    assert set(heads["scenario"]) == set(anti["scenario"])
    assert list(heads["ratio"]) == sorted(heads["ratio"], reverse=True)
    for _, head in heads.iterrows():
        assert head["ratio"] == anti.loc[anti["scenario"] == head["scenario"], "ratio"].max()
    situation = ["scenario", "mode", "device", "size"]
    current = None
    for _, row in rows.iterrows():
        if row["role"] == "re-creates":
            current = row
        else:
            assert row["variant_role"] == "fix" and list(row[situation]) == list(current[situation])
    fixes_there = analyzed[is_fix(analyzed) & analyzed["ratio"].notna()].merge(
        heads[situation], on=situation)
    assert len(rows[rows["role"] == "fix"]) == len(fixes_there)


@pytest.mark.parametrize("text, problem", [
    ("no markers\n", f"README.md: no line '{BEGIN}'"),
    (f"{BEGIN}\nold\n", f"README.md: no line '{END}'"),
    (f"{END}\n{BEGIN}\n", f"README.md: '{END}' comes before '{BEGIN}'"),
    (f"{BEGIN}\n{END}\n{BEGIN}\n{END}\n", f"README.md: 2 line '{BEGIN}'"),
])
def test_marker_problems_are_named(text, problem):
    with pytest.raises(UserInputError) as caught:
        replace_block(text, "new\n", "README.md")
    assert str(caught.value).startswith(problem)


def test_only_the_block_between_the_markers_is_replaced():
    text = f"before\n{BEGIN}\nold table\n{END}\nafter\n"
    assert replace_block(text, "new table\n", "README.md") == f"before\n{BEGIN}\nnew table\n{END}\nafter\n"


def _tfreuse(folder: Path, *arguments) -> subprocess.CompletedProcess:
    return subprocess.run([str(TFREUSE), "findings", *map(str, arguments)], cwd=folder,
                          capture_output=True, text=True)


@pytest.mark.slow
def test_findings_writes_the_table_into_a_readme_and_keeps_a_trimmed_measurement(tmp_path, kept_block):
    run = tmp_path / "measurement"
    shutil.copytree(KEPT_RUN, run)
    readme = tmp_path / "README.md"
    readme.write_text(f"# A project\n\n{BEGIN}\nstale\n{END}\n\nMore text.\n")
    kept_folder = tmp_path / "docs" / "kept"
    result = _tfreuse(tmp_path, run, "--readme", readme, "--keep", kept_folder)
    assert result.returncode == 0, result.stderr
    assert readme.read_text() == f"# A project\n\n{BEGIN}\n{kept_block}{END}\n\nMore text.\n"
    assert sorted(p.name for p in kept_folder.iterdir()) == sorted(p.name for p in run.glob("*.json"))
    for path in kept_folder.iterdir():
        kept = json.loads(path.read_text())
        assert "node" not in kept["machine_info"]
        assert all(bench["stats"]["data"] and set(bench) == {"name", "fullname", "group", "extra_info", "stats"}
                   for bench in kept["benchmarks"])
    # From the trimmed copy, the same README again.
    before = readme.read_text()
    assert _tfreuse(tmp_path, kept_folder, "--readme", readme).returncode == 0
    assert readme.read_text() == before


@pytest.mark.slow
def test_findings_keeps_a_trimmed_copy_of_a_one_process_run_as_a_file(tmp_path):
    result = _tfreuse(tmp_path, OTHER_MACHINE, "--keep", tmp_path / "kept.json")
    assert result.returncode == 0, result.stderr
    assert "[within-process interval]" in result.stdout
    assert _tfreuse(tmp_path, tmp_path / "kept.json").stdout == result.stdout


@pytest.mark.slow
def test_findings_without_a_readme_prints_the_table(tmp_path, kept_block):
    result = _tfreuse(tmp_path, KEPT_RUN)
    assert result.returncode == 0, result.stderr
    assert result.stdout == kept_block


@pytest.mark.slow
def test_a_readme_without_markers_is_one_line_and_left_as_it_was(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# A project\n")
    result = _tfreuse(tmp_path, KEPT_RUN, "--readme", readme)
    assert result.returncode == 2
    assert result.stderr == f"tfreuse findings: error: {readme}: no line '{BEGIN}' (needs exactly one of each marker)\n"
    assert readme.read_text() == "# A project\n"


@pytest.mark.slow
def test_results_of_two_runs_are_refused(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    shutil.copy(KEPT_RUN / "process-01.json", folder / "a.json")
    shutil.copy(OTHER_MACHINE, folder / "b.json")
    result = _tfreuse(tmp_path, folder)
    assert result.returncode == 2
    assert result.stderr.startswith("tfreuse findings: error: findings are made from one measurement of "
                                    "one machine; the results hold 2 (")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.slow
def test_keeping_over_the_results_is_refused(tmp_path):
    run = tmp_path / "run.json"
    shutil.copy(OTHER_MACHINE, run)
    result = _tfreuse(tmp_path, run, "--keep", run)
    assert result.returncode == 2
    assert result.stderr == (f"tfreuse findings: error: {run}: is the results themselves; "
                             "inputs are never overwritten\n")
    assert run.read_bytes() == OTHER_MACHINE.read_bytes()
    measurement = tmp_path / "measurement"
    shutil.copytree(KEPT_RUN, measurement)
    result = _tfreuse(tmp_path, measurement, "--keep", measurement / "process-01.json")
    assert result.returncode == 2 and "inputs are never overwritten" in result.stderr


@pytest.mark.slow
def test_findings_refreshes_the_schema_table_between_its_markers(tmp_path):
    from tfreuse.core import schema
    from tfreuse.report.findings import SCHEMA_BEGIN, SCHEMA_END

    page = tmp_path / "methodology.md"
    page.write_text(f"# Method\n{SCHEMA_BEGIN}\n| an old field |\n{SCHEMA_END}\nMachine identity.\n")
    result = _tfreuse(tmp_path, KEPT_RUN, "--schema-table", page)
    assert result.returncode == 0, result.stderr
    table = schema.markdown_table().rstrip()
    assert page.read_text() == f"# Method\n{SCHEMA_BEGIN}\n{table}\n{SCHEMA_END}\nMachine identity.\n"
