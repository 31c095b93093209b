"""Load pytest-benchmark JSON files (one run or many, from one machine or many) into one DataFrame.

One row per benchmark result. tfreuse rows carry the extra_info figures, each record brought to
the current layout once, as it is read (`upgrade`), so nothing after loading patches an older
version; rows from other pytest-benchmark suites (format 3.x to 5.x) are kept as generic rows
with their timings.
Files that cannot be read are skipped with a one-line warning naming them; the caller decides
what to do when nothing usable remains.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tfreuse.core.busy import verdict
from tfreuse.core.errors import UserInputError
from tfreuse.core.machine import machine_label
from tfreuse.core.roles import MODE_PHRASES, by_name, record_fields
from tfreuse.core.schema import FIELDS, SCENARIO_FIELDS

STAT_COLUMNS = ("min", "max", "mean", "median", "stddev", "iqr", "rounds", "ops")
FIGURE_COLUMNS = tuple(f.name for f in FIELDS + SCENARIO_FIELDS if f.name != "size_params")
# Raw per-round timings: lists, kept for the analysis and left out of the CSV.
SAMPLE_COLUMNS = ("samples", "shared_samples_s")


def _from_version_1(record: dict) -> None:
    """Version 1 had no memory window: variables created per step are those of the timed rounds."""
    steps, created = record.get("measured_steps"), record.get("variables_created")
    if record.get("variables_created_per_step") is None and steps and created is not None:
        record["variables_created_per_step"] = created / steps


def _from_version_2(record: dict) -> None:
    """Rounds are the planned ones only: `precision_target` and `rounds_stop` are gone."""
    record.pop("precision_target", None)
    record.pop("rounds_stop", None)


def _from_version_3(record: dict) -> None:
    """Instruction counts are new: an older record's are missing values (nothing was counted)."""


def _from_version_4(record: dict) -> None:
    """Records say what their variant and mode mean: an older one gets the naming convention's
    meaning (a record annotated with its scenario's keeps that)."""
    if "variant_role" not in record and "variant" in record:
        record.update(_meaning_by_name(str(record["variant"]), record.get("mode")))


def _meaning_by_name(variant: str, mode: Any) -> dict:
    """What a variant means by the naming convention, and the default phrase of its mode: for a
    record older than the meaning fields, and for another suite's row."""
    return record_fields(by_name(variant), MODE_PHRASES.get(mode, mode) if mode is not None else None)


# Each older layout's step to the next version (as pyperf's loader upgrades old files).
_UPGRADES: dict[int, Callable[[dict], None]] = {1: _from_version_1, 2: _from_version_2, 3: _from_version_3,
                                                  4: _from_version_4}


def upgrade(record: Mapping[str, Any]) -> dict:
    """A copy of `record` (extra_info of any schema version) in the current layout: each older
    version's step applied in turn. `schema_version` still says which layout the run wrote."""
    upgraded = dict(record)
    version = upgraded.get("schema_version")
    while version in _UPGRADES:
        _UPGRADES[version](upgraded)
        version += 1
    return upgraded


class ReportInputError(UserInputError):
    """Nothing usable could be read; the message names what was wrong."""


@dataclass
class Loaded:
    """The rows read, the machine_info of each run, a warning per file skipped or doubted, and a
    sentence per run taken while the machine was busy (`tfreuse.core.busy`)."""

    rows: pd.DataFrame
    machines: dict[str, dict] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)


def find_json_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """Every .json file named or under a named folder (`.benchmarks/` trees included), sorted.

    A missing path raises ReportInputError; a folder with no JSON gives a warning.
    """
    files, warnings = [], []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise ReportInputError(f"{path}: no such file or folder")
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.json") if p.is_file())
            if not found:
                warnings.append(f"{path}: folder holds no .json file")
            files.extend(found)
        else:
            files.append(path)
    unique = list(dict.fromkeys(p.resolve() for p in files))
    return unique, warnings


def _label(machine_info: dict) -> str:
    tfreuse_info = machine_info.get("tfreuse") or {}
    if tfreuse_info.get("label"):
        return str(tfreuse_info["label"])
    cpu = machine_info.get("cpu") or {}
    brand = cpu.get("brand_raw") or cpu.get("brand") or machine_info.get("processor") or "unknown"
    cores = cpu.get("count") or 0
    return machine_label(str(brand), str(machine_info.get("machine", "")), int(cores or 0), [])


def _run_id(data: dict, path: Path) -> str:
    stamp = data.get("datetime") or ""
    digest = hashlib.sha256(json.dumps(data.get("benchmarks", []), sort_keys=True,
                                       default=str).encode()).hexdigest()[:8]
    return f"{stamp}#{digest}" if stamp else f"{path.name}#{digest}"


def _rows_of(data: dict, path: Path, machine: str, run: str) -> list[dict]:
    # One of K fresh processes of one measurement (`tfreuse bench`), else a measurement of its own.
    measured = ((data["machine_info"].get("tfreuse") or {}).get("measurement")) or {}
    rows = []
    for bench in data["benchmarks"]:
        if not isinstance(bench, dict) or not isinstance(bench.get("stats"), dict):
            continue
        stats = bench["stats"]
        extra = upgrade(bench.get("extra_info") or {})
        row = {
            "source": str(path),
            "machine": machine,
            "run": run,
            "measurement": str(measured.get("id") or run),
            "process": int(measured.get("process") or 1),
            "name": str(bench.get("name", "")),
            "fullname": str(bench.get("fullname", bench.get("name", ""))),
            "group": bench.get("group"),
            "tfreuse": "schema_version" in extra,
            # Which code ran: the processes of one measurement share it (report.compare).
            "commit": (data.get("commit_info") or {}).get("id"),
        }
        row.update({column: stats.get(column) for column in STAT_COLUMNS})
        row["samples"] = [float(x) for x in stats.get("data") or []]
        row.update({column: extra.get(column) for column in FIGURE_COLUMNS})
        if not row["tfreuse"]:
            row["scenario"] = row["group"] or Path(str(bench.get("fullname", "")).split("::")[0]).stem
            row["variant"] = row["name"]
            row["outcome"] = "ok"
            row.update(_meaning_by_name(str(row["variant"]), row.get("mode")))
        row["fix_restores"] = ", ".join(row["fix_restores"] or ())  # one cell of the table
        rows.append(row)
    return rows


def rows_of(data: dict, source: str) -> pd.DataFrame:
    """The rows of one run given as pytest-benchmark's JSON structure (a session's own results,
    before or without a file): what `load` reads from a file holding `data`."""
    return pd.DataFrame(_rows_of(data, Path(source), _label(data["machine_info"]), _run_id(data, Path(source))))


def _read_json(path: Path) -> tuple[dict | None, str | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{path}: cannot be read ({exc.__class__.__name__}: {exc})"
    if not text.strip():
        return None, f"{path}: empty file"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        return None, f"{path}: not pytest-benchmark JSON (no 'benchmarks' list)"
    if not isinstance(data.get("machine_info"), dict):
        return None, f"{path}: not pytest-benchmark JSON (no 'machine_info')"
    return data, None


def load(paths: Iterable[str | Path]) -> Loaded:
    """Read every JSON file under `paths` into one tidy DataFrame; never writes to them."""
    files, warnings = find_json_files(paths)
    rows: list[dict] = []
    machines: dict[str, dict] = {}
    busy: list[str] = []
    seen_runs: dict[tuple[str, str], Path] = {}
    for path in files:
        data, problem = _read_json(path)
        if problem:
            warnings.append(problem + "; skipped")
            continue
        machine = _label(data["machine_info"])
        run = _run_id(data, path)
        if (machine, run) in seen_runs:
            warnings.append(f"{path}: duplicate of {seen_runs[(machine, run)]} (same machine and "
                            "run); skipped")
            continue
        seen_runs[(machine, run)] = path
        file_rows = _rows_of(data, path, machine, run)
        if not file_rows:
            warnings.append(f"{path}: pytest-benchmark JSON with no benchmark results; skipped")
            continue
        if not any(row["tfreuse"] for row in file_rows):
            warnings.append(f"{path}: no tfreuse fields; read as generic pytest-benchmark rows")
        machines.setdefault(machine, {"machine_info": data["machine_info"],
                                      "commit_info": data.get("commit_info") or {},
                                      "version": data.get("version")})
        rows.extend(file_rows)
        said = verdict((data["machine_info"].get("tfreuse") or {}).get("busy"))
        if said:
            busy.append(f"{path}: {said}")
    if not rows:
        raise ReportInputError(
            "no usable benchmark results in " + ", ".join(str(p) for p in paths)
            + (f" ({len(warnings)} file(s) skipped)" if warnings else "")
        )
    return Loaded(pd.DataFrame(rows), machines, warnings, busy)
