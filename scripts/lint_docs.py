#!/usr/bin/env python3
"""The project's text policy, run by `make lint`: python scripts/lint_docs.py [ROOT].

- the README stays short: findings first, the method behind a link;
- every relative link of the README and docs/ reaches its file (and its heading);
- machines are spoken of by label only (one word is banned everywhere);
- `src/` states rules, not a lab notebook: no dates, machine labels or project issue numbers
  (the evidence goes to docs/methodology.md, linked from the docstring).

Prints one line per violation (`path:line: what`) and exits 1 if there is any.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README_LIMIT = 12 * 1024  # bytes
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
# Spelt in two parts so that this file does not contain the word it looks for.
UNLABELLED_MACHINE_WORD = "work" + "place"

DATE = re.compile(r"\b20\d\d-[01]\d-[0-3]\d\b")
# As `tfreuse.core.machine.machine_label` makes them: CPU slug, core count, optional GPU, 6-hex digest.
MACHINE_LABEL = re.compile(r"\b[a-z][a-z0-9]*(?:-[a-z0-9]+)*-\d+c(?:-[a-z0-9]+)*-[0-9a-f]{6}\b")
# "issue 16", "issues #3 and", "PR 12"; "#24" alone, but not `owner/repo#24` nor a colour "#444444".
ISSUE = re.compile(r"\b(?:issue|pr|pull request)s? #?\d+\b|(?<![\w/\"'#])#\d{1,5}\b", re.I)

# The module that makes labels shows one as an example of their format.
LABEL_EXAMPLE = "src/tfreuse/core/machine.py"


def github_anchor(heading: str) -> str:
    """The id GitHub gives a markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _prose(page: Path) -> str:
    return FENCE.sub("", page.read_text(encoding="utf-8"))


def anchors(page: Path) -> set[str]:
    """The anchors of a markdown page's headings (those inside code fences are not headings)."""
    return {github_anchor(line.lstrip("#")) for line in _prose(page).splitlines() if re.match(r"#{1,6} ", line)}


def broken_links(page: Path) -> list[str]:
    """Relative links of `page` that reach no file, or no heading of a markdown file."""
    broken = []
    for target in LINK.findall(_prose(page)):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            broken.append(f"link {target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"link {target}: no heading #{anchor} in {destination.name}")
    return broken


def notebook_entries(relative: str, text: str) -> list[str]:
    """`line: what` for each date, machine label or issue number in a file of `src/`."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for pattern, what in ((DATE, "a date"), (MACHINE_LABEL, "a machine label"), (ISSUE, "an issue number")):
            if pattern is MACHINE_LABEL and relative == LABEL_EXAMPLE:
                continue
            for match in pattern.finditer(line):
                found.append(f"{number}: {what} ({match.group(0)!r}): state the rule here, the evidence in "
                             "docs/methodology.md")
    return found


def _tracked(root: Path, *pathspecs: str) -> list[str] | None:
    listed = subprocess.run(["git", "ls-files", "-z", "--", *pathspecs], cwd=root, capture_output=True, text=True)
    return None if listed.returncode else [name for name in listed.stdout.split("\0") if name]


def violations(root: Path) -> list[str]:
    """Every violation of the text policy under `root`, one line each."""
    found = []
    readme = root / "README.md"
    size = len(readme.read_bytes())
    if size > README_LIMIT:
        found.append(f"README.md: {size} bytes, over the limit of {README_LIMIT}: move detail to docs/")
    for page in [readme, *sorted((root / "docs").glob("*.md"))]:
        found += [f"{page.relative_to(root)}: {problem}" for problem in broken_links(page)]

    tracked = _tracked(root)
    if tracked is None:  # not a git checkout (e.g. an sdist): the word and src/ checks need git's file list
        print("lint_docs: not a git checkout; the banned-word and src/ checks are skipped", file=sys.stderr)
        return found
    for name in tracked:
        path = root / name
        if name.startswith("src/") and path.suffix == ".py":
            found += [f"{name}:{entry}" for entry in notebook_entries(name, path.read_text(encoding="utf-8"))]
    word = subprocess.run(["git", "grep", "-i", "-n", UNLABELLED_MACHINE_WORD], cwd=root,
                          capture_output=True, text=True)
    for hit in word.stdout.splitlines():
        name, number, _ = hit.split(":", 2)
        found.append(f"{name}:{number}: the word {UNLABELLED_MACHINE_WORD!r}: name a machine by its label")
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[1]
    found = violations(root)
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
