"""scripts/lint_docs.py, the text policy `make lint` runs: one line per violation, none for what is allowed."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "lint_docs.py"
_spec = importlib.util.spec_from_file_location("lint_docs", SCRIPT)
lint_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lint_docs)


def test_github_anchor_of_a_heading_with_code_and_punctuation():
    assert lint_docs.github_anchor(" Same-job A/B: `make ab BASE=<git ref>`") == "same-job-ab-make-ab-basegit-ref"


@pytest.mark.parametrize("line", [
    "# shown as 2026-11-28 in the run's notes",
    "on the 2-core VM amd-epyc-2c-237aed a loop ran 150 ms",
    "see issue 16 for the figures",
    "the limit of #24",
])
def test_a_lab_notebook_entry_in_src_is_named_with_its_line(line):
    (entry,) = lint_docs.notebook_entries("src/tfreuse/x.py", f'"""Doc."""\n{line}\n')
    assert entry.startswith("2: ") and "docs/methodology.md" in entry


@pytest.mark.parametrize("line", [
    "tensorflow/tensorflow#35124 and keras-team/keras#1234",
    'color="#444444"',
    "Kalibera and Jones, 2013",
])
def test_tracker_references_colours_and_years_are_allowed(line):
    assert lint_docs.notebook_entries("src/tfreuse/x.py", line) == []


def test_every_violation_of_a_checkout_is_one_line(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "README.md").write_text("# A\n[ok](docs/m.md#b) [gone](docs/x.md) [no heading](docs/m.md#c)\n"
                                        + "x" * lint_docs.README_LIMIT)
    (tmp_path / "docs" / "m.md").write_text("# Top\n## B\n```\n## C\n```\n")
    (tmp_path / "src" / "notes.py").write_text('"""Measured on intel-xeon-2c-1ed0cb."""\n')
    (tmp_path / "src" / "other.txt").write_text("the " + lint_docs.UNLABELLED_MACHINE_WORD + "'s machine\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "."], cwd=tmp_path, check=True)

    found = lint_docs.violations(tmp_path)

    assert found[0].startswith("README.md: ") and "over the limit" in found[0]
    assert found[1:3] == ["README.md: link docs/x.md: no such file",
                          "README.md: link docs/m.md#c: no heading #c in m.md"]
    assert found[3].startswith("src/notes.py:1: a machine label ('intel-xeon-2c-1ed0cb')")
    assert found[4].startswith("src/other.txt:1: the word")
    assert len(found) == 5
    assert lint_docs.main([str(tmp_path)]) == 1
