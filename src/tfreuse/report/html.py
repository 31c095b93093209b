"""One self-contained HTML report (plots embedded as data URIs, every input string escaped)."""

from __future__ import annotations

import base64
import datetime as dt
import math
from pathlib import Path

import jinja2
import pandas as pd

from tfreuse.report import plots
from tfreuse.units import kib
from tfreuse.report.analyze import REFERENCE_SHIFT_LIMIT, errors, headlines, latest_runs

_TEMPLATES = Path(__file__).parent / "templates"

COLUMNS = ("variant", "mode", "size", "device", "machine", "median ms", "ratio", "95% CI",
           "traces/step", "retained/step", "vars/step", "alloc peak", "RSS/step (secondary)",
           "learning kept", "drift", "param bytes")
TEXT_COLUMNS = 5


def _number(value, spec: str = ".3g", suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:{spec}}{suffix}"


def _row(row: dict) -> dict:
    per_step = row.get("variables_created_per_step")
    if per_step is None or not math.isfinite(per_step):  # results written before the memory window
        steps = row.get("measured_steps") or 0
        created = row.get("variables_created")
        per_step = created / steps if steps and created is not None and math.isfinite(created) else None
    ci = ""
    if math.isfinite(row.get("ratio_ci_low", math.nan)) and row["variant"] != "shared":
        ci = f"{row['ratio_ci_low']:.2f}–{row['ratio_ci_high']:.2f}"
    median = "" if row["outcome"] == "error" else _number(row["median"] * 1e3, ".3f")
    if row.get("unstable") and median:
        median += " !"
    ratio = _number(row.get("ratio"), ".2f", "x") if row["outcome"] == "ok" else "refused"
    if row.get("shifted") and ratio:
        ratio += " ~"
    cells = [row["variant"], row["mode"], row["size"], row["device"], row["machine"], median, ratio,
             ci, _number(row.get("traces_per_step"), ".2g"), kib(row.get("retained_bytes_per_step")),
             _number(per_step, ".2g"), kib(row.get("allocator_peak_delta_bytes") or math.nan),
             kib(row.get("rss_growth_per_step_bytes")),
             _number(row.get("learning_retained"), ".0%"), _number(row.get("frozen_weight_drift"), ".3g"),
             _number(row.get("param_bytes"), ",.0f")]
    css = "error" if row["outcome"] == "error" else ("shared" if row["variant"] == "shared" else "")
    return {"cells": cells, "css": css}


def _encode(png: bytes | None) -> str | None:
    return base64.b64encode(png).decode("ascii") if png else None


def _scenario_sections(analyzed: pd.DataFrame) -> list[dict]:
    sections = []
    tfreuse_rows = analyzed[analyzed["tfreuse"]]
    for name, rows in tfreuse_rows.groupby("scenario", sort=True):
        rows = rows.sort_values(["machine", "device", "mode", "size", "variant"])
        plot_specs = [
            (plots.slowdown, "step time relative to shared"),
            (plots.memory_retained, "memory retained per step"),
            (plots.traces, "tf.function traces per step"),
            (plots.distributions, "step-time distributions"),
        ]
        figures = []
        for draw, what in plot_specs:
            png = _encode(draw(rows, f"{name}: {what}"))
            if png:
                figures.append({"png": png, "alt": f"{name}: {what}"})
        sections.append({"name": name, "rows": [_row(r) for r in rows.to_dict("records")],
                         "plots": figures})
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


def render(analyzed: pd.DataFrame, machines: dict[str, dict], warnings: list[str]) -> str:
    """The whole report as one HTML string."""
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES),
                                     autoescape=True, undefined=jinja2.StrictUndefined)
    shown = latest_runs(analyzed)  # tables and plots: each machine's latest run; the CSV has all
    generic = shown[~shown["tfreuse"]]
    return environment.get_template("report.html.j2").render(
        generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        result_count=len(analyzed),
        file_count=analyzed["source"].nunique(),
        machine_count=analyzed["machine"].nunique(),
        earlier_results=len(analyzed) - len(shown),
        headlines=headlines(shown),
        refusals=errors(shown).to_dict("records"),
        warnings=warnings,
        heatmap=_encode(plots.machine_heatmap(shown)),
        scenarios=_scenario_sections(shown),
        columns=COLUMNS,
        text_columns=TEXT_COLUMNS,
        generic=[{"machine": r.machine, "group": r.group or "", "name": r.name,
                  "median": _number(r.median * 1e3, ".4g"), "rounds": r.rounds}
                 for r in generic.itertuples()],
        machines=_machines(machines),
        shift_limit=f"{REFERENCE_SHIFT_LIMIT:.0%}",
    )
