"""The findings in the terminal: one short table at the end of a pytest session or of `tfreuse bench`.

The rows are the README's findings table's (`findings.selected_rows`): per scenario its costliest
re-creation, then each fix in that situation; then the refusals, and where the results went. The
interval is named for what it covers (`analyze.interval_label`): one pytest process can only show
the spread of its own rounds.
"""

from __future__ import annotations

import pandas as pd

from tfreuse.core.units import kib, number
from tfreuse.report.analyze import MODE_NAMES, analyze, interval_label
from tfreuse.report.findings import ratio_cell, refusals_text, selected_rows

HEADER = "tfreuse: what re-creation costs"


def _aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def table(analyzed: pd.DataFrame) -> list[str]:
    """The findings of analyzed rows as aligned text lines: a title, the table and the refusals."""
    rows = selected_rows(analyzed)
    tfreuse_rows = analyzed[analyzed["tfreuse"].astype(bool)]
    label = interval_label(tfreuse_rows["processes"] if "processes" in tfreuse_rows else 1)
    lines = [f"{HEADER} (each scenario's costliest re-creation, then its fixes; time / reuse "
             f"[{label}])"]
    if rows.empty:
        lines.append("no ratio to show: no timed `shared` case beside a variant (timing disabled?)")
    else:
        cells = [["scenario", "variant", "mode", "size", "time / reuse", "traces/step", "kept/step",
                  "vars/step", "learning kept"]]
        for _, row in rows.iterrows():
            first = row["role"] == "re-creates"
            cells.append([row["scenario"] if first else "", row["variant"] if first else f"fix: {row['variant']}",
                          MODE_NAMES.get(row["mode"], row["mode"]), str(row["size"]), ratio_cell(row),
                          number(row.get("traces_per_step"), ".2g"), kib(row.get("retained_bytes_per_step")),
                          number(row.get("variables_created_per_step"), ".2g"),
                          number(row.get("learning_retained"), ".0%")])
        lines += _aligned(cells)
    refusals = refusals_text(analyzed)
    if refusals:
        lines.append(refusals.replace("`", ""))
    if label == "within-process interval":
        lines.append("within-process interval: this process's rounds only; `tfreuse bench` measures in "
                     "fresh processes for 95% intervals over them")
    return lines


def session_lines(benchmarks: list[dict], machine_info: dict, saved: str | None) -> list[str]:
    """The table for one pytest session's own results (pytest-benchmark's JSON structure of each
    benchmark), and where they were saved (`saved`: the --benchmark-json path, if any)."""
    from tfreuse.report.load import rows_of

    data = {"benchmarks": benchmarks, "machine_info": machine_info, "datetime": None}
    lines = table(analyze(rows_of(data, saved or "this session")))
    if saved:
        lines.append(f"results: {saved} (`tfreuse report {saved} -o DIR` writes the report); "
                     "--tfreuse-no-summary leaves this table out")
    else:
        lines.append("results not saved: --benchmark-json FILE keeps them for `tfreuse report`; "
                     "--tfreuse-no-summary leaves this table out")
    return lines
