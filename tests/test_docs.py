"""The README and docs/: every relative link reaches a file (and its heading), and the README stays short."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_LIMIT = 12 * 1024  # issue 20: findings first, method behind a link
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def github_anchor(heading: str) -> str:
    """The id GitHub gives a markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {github_anchor(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]


def test_github_anchor_of_a_heading_with_code_and_punctuation():
    assert github_anchor(" Same-job A/B: `make ab BASE=<git ref>`") == "same-job-ab-make-ab-basegit-ref"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_reaches_its_file_and_heading(page):
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading #{anchor} in {destination.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_readme_is_short():
    assert len((ROOT / "README.md").read_bytes()) <= README_LIMIT


# Spelt in two parts so that this file does not contain the word it looks for.
UNLABELLED_MACHINE_WORD = "work" + "place"


def test_the_project_speaks_of_machines_by_label_only():
    found = subprocess.run(["git", "grep", "-i", "-l", UNLABELLED_MACHINE_WORD],
                           cwd=ROOT, capture_output=True, text=True)
    if found.returncode == 128:  # not a git checkout (e.g. an sdist): nothing to look through
        pytest.skip(f"git grep: {found.stderr.strip()}")
    assert found.stdout == ""
