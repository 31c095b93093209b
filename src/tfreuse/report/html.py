"""One self-contained HTML report (plots inline as SVG, every input string escaped)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import jinja2
import pandas as pd

from tfreuse.core.units import interval_text, kib, number, ratio_text
from tfreuse.report import plots
from tfreuse.report.analyze import (
    REFERENCE_SHIFT_LIMIT,
    constant_columns,
    cost_order,
    errors,
    headlines_apart,
    interval_label,
    latest_runs,
)

_TEMPLATES = Path(__file__).parent / "templates"

# "interval" is named for what it covers (`analyze.interval_label`) in each table.
COLUMNS = ("variant", "mode", "size", "device", "machine", "median ms", "ratio", "interval", "processes",
           "traces/step", "retained/step", "vars/step", "open files/step", "threads/step", "alloc peak",
           "RSS/step (secondary)", "learning kept", "drift", "param bytes")
TEXT_COLUMNS = 5


def _row(row: dict) -> dict:
    ci = interval_text(row.get("ratio_ci_low"), row.get("ratio_ci_high")) if row["variant"] != "shared" else ""
    median = "" if row["outcome"] == "error" else number(row["median"] * 1e3, ".3f")
    if row.get("unstable") and median:
        median += " !"
    ratio = ratio_text(row.get("ratio")) if row["outcome"] == "ok" else "refused"
    if row.get("shifted") and ratio:
        ratio += " ~"
    cells = [row["variant"], row["mode"], row["size"], row["device"], row["machine"], median, ratio,
             ci, str(int(row.get("processes") or 1)), number(row.get("traces_per_step"), ".2g"),
             kib(row.get("retained_bytes_per_step")), number(row.get("variables_created_per_step"), ".2g"),
             number(row.get("descriptors_per_step"), ".2g"), number(row.get("threads_per_step"), ".2g"),
             kib(row.get("allocator_peak_delta_bytes") or math.nan),
             kib(row.get("rss_growth_per_step_bytes")),
             number(row.get("learning_retained"), ".0%"), number(row.get("frozen_weight_drift"), ".3g"),
             number(row.get("param_bytes"), ",.0f")]
    css = "error" if row["outcome"] == "error" else ("shared" if row["variant"] == "shared" else "")
    return {"cells": cells, "css": css}


def _table(rows: pd.DataFrame) -> dict:
    """A scenario's table: rows in cost order; columns that say the same on every row are left
    out and said once above it (`same`), columns empty throughout named once (`unmeasured`)."""
    rows = cost_order(rows)
    shaped = [_row(r) for r in rows.to_dict("records")]
    columns = [interval_label(rows["processes"]) if c == "interval" else c for c in COLUMNS]
    cells = pd.DataFrame([row["cells"] for row in shaped], columns=columns)
    kept, constant = constant_columns(cells)
    return {
        "columns": [{"name": c, "text": columns.index(c) < TEXT_COLUMNS} for c in kept.columns],
        "rows": [{"cells": list(cells_row), "css": row["css"]}
                 for cells_row, row in zip(kept.itertuples(index=False), shaped)],
        "same": [f"{name}: {value}" for name, value in constant.items() if value],
        "unmeasured": [name for name, value in constant.items() if not value],
    }


def _scenario_sections(analyzed: pd.DataFrame) -> list[dict]:
    sections = []
    tfreuse_rows = analyzed[analyzed["tfreuse"]]
    for name, rows in tfreuse_rows.groupby("scenario", sort=True):
        sections.append({"name": name, **_table(rows),
                         "figure": plots.scenario_figure(rows, name),
                         "distributions": plots.distributions(rows, f"{name}: step-time distributions")})
    return sections


def _machines(machines: dict[str, dict]) -> list[dict]:
    described = []
    for label, info in sorted(machines.items()):
        machine_info = info.get("machine_info", {})
        tfreuse_info = machine_info.get("tfreuse") or {}
        cpu = machine_info.get("cpu") or {}
        env = tfreuse_info.get("env") or {}
        settings = ", ".join(f"{k}={v}" for k, v in sorted(env.items()) if v is not None)
        profile = (tfreuse_info.get("profile") or {}).get("name")
        described.append({
            "label": label,
            "cpu": tfreuse_info.get("cpu_brand") or cpu.get("brand_raw") or machine_info.get("processor", ""),
            "cores": tfreuse_info.get("cpu_logical_cores") or cpu.get("count", ""),
            "gpus": ", ".join(f"{g.get('name')} (cc {g.get('compute_capability')})"
                              for g in tfreuse_info.get("gpus") or []) or "none",
            "python": machine_info.get("python_version", ""),
            "tensorflow": tfreuse_info.get("tensorflow", ""),
            "keras": tfreuse_info.get("keras", ""),
            "settings": ", ".join(x for x in (f"profile={profile}" if profile else "", settings) if x),
        })
    return described


def render(analyzed: pd.DataFrame, machines: dict[str, dict], warnings: list[str],
           file_count: int | None = None, busy: list[str] = ()) -> str:
    """The whole report as one HTML string (`file_count`: files read, when several processes'
    rows were merged into one; `busy`: a sentence per run taken on a busy machine)."""
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES),
                                     autoescape=True, undefined=jinja2.StrictUndefined)
    shown = latest_runs(analyzed)  # tables and plots: each machine's latest run; the CSV has all
    generic = shown[~shown["tfreuse"]]
    machine_labels = sorted(analyzed["machine"].unique())
    # One machine is named once at the top, not at the end of every sentence.
    costliest, unfixed = headlines_apart(shown, name_machine=len(machine_labels) > 1)
    return environment.get_template("report.html.j2").render(
        generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        result_count=len(analyzed),
        file_count=file_count or analyzed["source"].nunique(),
        machine_labels=machine_labels,
        earlier_results=len(analyzed) - len(shown),
        headlines=costliest,
        unfixed=unfixed,
        refusals=errors(shown).to_dict("records"),
        warnings=warnings,
        busy=list(busy),
        overview=plots.overview(shown),
        heatmap=plots.machine_heatmap(shown),
        scenarios=_scenario_sections(shown),
        generic=[{"machine": r.machine, "group": r.group if isinstance(r.group, str) else "", "name": r.name,
                  "median": number(r.median * 1e3, ".4g"), "rounds": r.rounds}
                 for r in generic.itertuples()],
        machines=_machines(machines),
        shift_limit=f"{REFERENCE_SHIFT_LIMIT:.0%}",
        interval=_interval_words(shown),
    )


def _interval_words(shown: pd.DataFrame) -> dict:
    """What the intervals on the page cover: a label, and a sentence for 'How to read this'."""
    tfreuse_rows = shown[shown["tfreuse"].astype(bool)]
    counts = sorted({int(k) for k in tfreuse_rows["processes"]}) if len(tfreuse_rows) else [1]
    over = ("a 95% interval over the measurement's fresh processes ({}) that holds the next such "
            "measurement's ratio: a hierarchical bootstrap that draws processes, then each drawn "
            "process's rounds, widened for so few processes and for the next measurement's own spread"
            .format(", ".join(str(k) for k in counts if k > 1)))
    within = ("an interval within one process: the spread of its rounds at one moment only; another "
              "run's ratio often lies outside it. <code>make bench</code> (<code>tfreuse bench</code>) "
              "measures in several fresh processes and gives 95% intervals over them")
    if counts == [1]:
        sentence = f"the interval is {within}."
    elif 1 not in counts:
        sentence = f"the interval is {over}."
    else:
        sentence = f"where <i>processes</i> is above 1, the interval is {over}; where it is 1, {within}."
    return {"label": interval_label(counts), "sentence": sentence}
