"""Write a report folder: index.html, results.csv (and .parquet with pyarrow), summary.md."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from tfreuse.core.atomic import atomic_write
from tfreuse.core.units import kib, ratio_text
from tfreuse.report.analyze import analyze, headlines, interval_label, latest_runs
from tfreuse.report.html import render
from tfreuse.report.load import SAMPLE_COLUMNS, Loaded


def interval_columns(analyzed: pd.DataFrame) -> pd.DataFrame:
    """`ratio_ci_low/high` named for what they cover: `ratio_interval95_over_processes_low/high`
    where a row's measurement had several processes (the interval that holds the next such
    measurement's ratio), `ratio_within_process_low/high` where it had one."""
    over = analyzed["processes"].fillna(1).astype(int) > 1 if "processes" in analyzed else False
    table = analyzed.copy()
    for end in ("low", "high"):
        value = table.pop(f"ratio_ci_{end}")
        table[f"ratio_interval95_over_processes_{end}"] = value.where(over)
        table[f"ratio_within_process_{end}"] = value.where(~over)
    return table


def _csv(analyzed: pd.DataFrame) -> str:
    table = interval_columns(analyzed).drop(columns=list(SAMPLE_COLUMNS), errors="ignore")
    return table.to_csv(index=False)


def _parquet(analyzed: pd.DataFrame) -> bytes | None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return None
    buffer = io.BytesIO()
    analyzed.to_parquet(buffer, index=False)
    return buffer.getvalue()


def summary_markdown(analyzed: pd.DataFrame, busy: list[str] = ()) -> str:
    """Headlines and the ratio table in markdown, e.g. for a CI job summary; first, a warning per
    run taken on a busy machine."""
    analyzed = latest_runs(analyzed)
    lines = ["## tfreuse: what re-creating variables costs", ""]
    lines += [f"> **warning: timings unreliable**: {sentence}" for sentence in busy] + ([""] if busy else [])
    lines += [f"- {sentence}" for sentence in headlines(analyzed)] or ["- no ratios to report"]
    rows = analyzed[analyzed["tfreuse"] & (analyzed["variant"] != "shared")]
    if not rows.empty:
        lines += ["", f"| machine | scenario | variant | mode | size | ratio ({interval_label(rows['processes'])}) "
                  "| traces/step | "
                  "retained/step | RSS/step (secondary) |", "|---|---|---|---|---|---|---|---|---|"]
        for r in rows.sort_values(["machine", "scenario", "mode", "size", "variant"]).itertuples():
            ratio = ("refused" if r.outcome == "error"
                     else ratio_text(r.ratio, r.ratio_ci_low, r.ratio_ci_high, brackets="()"))
            rss = kib(r.rss_growth_per_step_bytes)
            traces = f"{r.traces_per_step:.2g}" if pd.notna(r.traces_per_step) else ""
            lines.append(f"| {r.machine} | {r.scenario} | {r.variant} | {r.mode} | {r.size} | {ratio} | "
                         f"{traces} | {kib(r.retained_bytes_per_step)} | {rss} |")
    return "\n".join(lines) + "\n"


def write_report(loaded: Loaded, folder: str | Path) -> dict[str, Path]:
    """Analyze `loaded` and write every output into `folder`; return what was written."""
    folder = Path(folder)
    analyzed = analyze(loaded.rows)
    written = {
        "html": atomic_write(folder / "index.html", render(analyzed, loaded.machines, loaded.warnings,
                                                           loaded.rows["source"].nunique(), loaded.busy)),
        "csv": atomic_write(folder / "results.csv", _csv(analyzed)),
        "summary": atomic_write(folder / "summary.md", summary_markdown(analyzed, loaded.busy)),
    }
    parquet = _parquet(interval_columns(analyzed))
    if parquet is not None:
        written["parquet"] = atomic_write(folder / "results.parquet", parquet)
    return written
