import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tfreuse.commands.cli import main
from tfreuse.core.atomic import atomic_write
from tfreuse.report.load import FIGURE_COLUMNS, SAMPLE_COLUMNS

from tests.report_helpers import FIXTURES, MACHINE_A, derived_run, many_scenario_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def two_machine_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    derived_run(folder, "b.json", label="machine-b", slowdown=2.0)
    out = tmp_path_factory.mktemp("report")
    assert main(["report", str(MACHINE_A), str(folder), str(FIXTURES / "other_suite_v4.json"),
                 "-o", str(out)]) == 0
    return out


def test_report_writes_html_csv_and_summary(two_machine_report):
    assert {p.name for p in two_machine_report.iterdir()} >= {"index.html", "results.csv", "summary.md"}
    assert not [p for p in two_machine_report.iterdir() if p.name.endswith(".tmp")]


def test_csv_is_tidy_with_every_figure(two_machine_report):
    table = pd.read_csv(two_machine_report / "results.csv")
    assert len(table) == 16 * 2 + 1
    expected = (set(FIGURE_COLUMNS) - set(SAMPLE_COLUMNS)) | {
        "machine", "run", "ratio", "processes", "ratio_within_process_low", "ratio_within_process_high",
        "ratio_interval95_over_processes_low", "ratio_interval95_over_processes_high"}
    assert expected <= set(table.columns)
    assert not set(SAMPLE_COLUMNS) & set(table.columns)


def test_html_is_self_contained_and_escapes_input_strings(two_machine_report):
    html = (two_machine_report / "index.html").read_text()
    assert "<script" not in html and "<img" not in html  # no script of its own, figures inline
    assert "test_sort[1000]" in html
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    ids = re.findall(r' id="([^"]+)"', html)
    assert len(ids) == len(set(ids))  # two figures' markers and clip paths never share an id
    fragments = [s for s in sources if s.startswith("#")]
    files = [s for s in sources if not s.startswith(("#", "data:image/png;base64,"))]  # heatmap's pixels
    assert fragments and all(f[1:] in ids for f in fragments)
    # Links to the report's other outputs, beside it in the folder: nothing outside it.
    assert sorted(set(files)) == ["results.csv", "summary.md"]
    assert all((two_machine_report / f).is_file() for f in files)


def test_html_escapes_names_from_input(tmp_path):
    assert main(["report", str(FIXTURES / "other_suite_v5.json"), "-o", str(tmp_path)]) == 0
    html = (tmp_path / "index.html").read_text()
    assert "test_sort[&lt;b&gt;big&lt;/b&gt;]" in html and "<b>big</b>" not in html


def test_html_leads_with_headlines_then_machines_side_by_side(two_machine_report):
    html = (two_machine_report / "index.html").read_text()
    assert (html.index("In short") < html.index('id="overview"') < html.index("Across machines")
            < html.index("Machines and software"))
    assert "machine-b" in html and "amd-epyc-2c-237aed" in html
    assert 'aria-label="slowdown heatmap across machines"' in html


def _section(html: str, scenario: str) -> str:
    start = html.index(f'<section id="scenario-{scenario}">')
    return html[start:html.index("</section>", start)]


def _table(section: str) -> tuple[list[str], list[list[str]], list[str]]:
    """(header, rows of cells, css class of each row) of a section's table."""
    table = section[section.index("<table>"):section.index("</table>")]
    header = re.findall(r"<th>([^<]*)</th>", table)
    rows = re.findall(r'<tr class="([^"]*)">(.*?)</tr>', table, re.S)
    return header, [re.findall(r"<td[^>]*>([^<]*)</td>", cells) for _, cells in rows], [css for css, _ in rows]


def test_tables_list_shared_first_then_variants_costliest_first(two_machine_report):
    header, rows, css = _table(_section((two_machine_report / "index.html").read_text(), "shared_layer"))
    column = {name: i for i, name in enumerate(header)}
    situations = [r[column["machine"]] + r[column["mode"]] for r in rows]
    assert situations == sorted(situations, key=situations.index)  # one block per situation
    for situation in dict.fromkeys(situations):
        block = [(r, c) for r, c, s in zip(rows, css, situations) if s == situation]
        assert block[0][1] == "shared" and block[0][0][column["variant"]] == "shared"
        ratios = [float(r[column["ratio"]].rstrip("x ~")) for r, _ in block[1:] if r[column["ratio"]] != "refused"]
        assert ratios == sorted(ratios, reverse=True) and len(ratios) >= 2
        refused = [r[column["ratio"]] == "refused" for r, _ in block]
        assert refused == sorted(refused)  # refusals last


def test_a_column_the_same_on_every_row_is_said_once_above_the_table(tmp_path):
    assert main(["report", str(MACHINE_A), "-o", str(tmp_path)]) == 0
    section = _section((tmp_path / "index.html").read_text(), "shared_layer")
    header, rows, _ = _table(section)
    said = re.search(r'<p class="same">On every row: (.*?)\.</p>', section).group(1).split(" · ")
    assert {"size: small", "device: CPU:0", "machine: amd-epyc-2c-237aed"} <= set(said)
    assert not {"size", "device", "machine"} & set(header)
    unmeasured = re.search(r'<p class="same">Not measured here: (.*?)\.</p>', section).group(1).split(", ")
    assert "retained/step" in unmeasured and "retained/step" not in header  # fixture predates it
    assert {"variant", "mode", "median ms", "ratio"} <= set(header) and len(rows) == 8
    for name in header:  # every column left has at least two values
        assert len({r[header.index(name)] for r in rows}) > 1


def test_step_time_distributions_are_folded_away(two_machine_report):
    html = (two_machine_report / "index.html").read_text()
    folded = re.findall(
        r"<details><summary>step-time distributions</summary><figure>(<svg.*?</svg>)</figure></details>", html, re.S)
    assert len(folded) == 2  # one per scenario
    assert html.count("step-time distributions\"") == 2  # their labels: none outside <details>


@pytest.mark.slow
@pytest.mark.parametrize("run", ["shaped like a full run", "the README's full run"])
def test_a_full_runs_page_stays_under_32_kb_a_scenario(tmp_path, run):
    if run == "shaped like a full run":  # 13 scenarios, 208 results, 20 to 300 rounds each
        path = many_scenario_run(tmp_path)
    else:  # the measurement the README's findings come from (its processes, raw timings kept)
        path = ROOT / "docs" / "findings-run"
    assert main(["report", str(path), "-o", str(tmp_path / "report")]) == 0
    html = (tmp_path / "report" / "index.html").read_text()
    sections = html.count('<section id="scenario-')
    assert sections >= 13
    assert len(html.encode()) < 32_000 * sections  # 21 scenarios: about 550 KB


def test_summary_markdown_has_headlines_and_table(two_machine_report):
    text = (two_machine_report / "summary.md").read_text()
    assert text.startswith("## tfreuse") and "| machine | scenario |" in text


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing.json"), "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"tfreuse report: error: {tmp_path / 'missing.json'}: no such file or folder"]
    assert main(["report", str(FIXTURES / "truncated.json"), "-o", str(tmp_path)]) == 2
    assert not (tmp_path / "index.html").exists()


@pytest.mark.slow
def test_script_runs_the_same_entry_point(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "report.py"), str(MACHINE_A),
                             "-o", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "index.html").exists()


def test_atomic_write_replaces_whole_or_leaves_the_old_file(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write(target, "old")
    with pytest.raises(TypeError, match="a bytes-like object is required, not 'int'"):
        atomic_write(target, 12345)  # not str/bytes: fails mid-write
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_atomic_write_gives_the_file_the_mode_a_new_file_gets(tmp_path, umask, mode):
    # In a child with its own umask: the test process's umask is left alone.
    target = tmp_path / "out.txt"
    code = (f"import os; os.umask({umask}); from tfreuse.core.atomic import atomic_write; "
            f"atomic_write({str(target)!r}, 'x')")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert target.stat().st_mode & 0o777 == mode


def test_tables_show_each_machines_latest_run_and_the_csv_keeps_all(tmp_path):
    older = derived_run(tmp_path, "older.json", slowdown=3.0, stamp="2020-01-01T00:00:00")
    out = tmp_path / "report"
    assert main(["report", str(MACHINE_A), str(older), "-o", str(out)]) == 0
    assert len(pd.read_csv(out / "results.csv")) == 32
    html = (out / "index.html").read_text()
    assert "16 results of earlier runs are in results.csv" in html
    assert html.count('<tr class="shared">') == 4  # shared rows of the latest run only


@pytest.mark.parametrize(("shifted", "unstable", "median", "ratio"),
                         [(False, False, "2.000", "3.00x"), (True, True, "2.000 !", "3.00x ~")])
def test_table_marks_unstable_timings_and_shifted_ratios(shifted, unstable, median, ratio):
    from tfreuse.report.html import COLUMNS, _row

    row = {"variant": "reinstantiated", "mode": "function", "size": "small", "device": "CPU:0",
           "machine": "m", "outcome": "ok", "median": 2e-3, "ratio": 3.0, "ratio_ci_low": 2.9,
           "ratio_ci_high": 3.1, "unstable": unstable, "shifted": shifted}
    cells = dict(zip(COLUMNS, _row(row)["cells"]))
    assert (cells["median ms"], cells["ratio"]) == (median, ratio)
