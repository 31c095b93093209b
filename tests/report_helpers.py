"""Result files for report tests, derived from the committed fixtures."""

import json
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
MACHINE_A = FIXTURES / "tfreuse_machine_a.json"


def derived_run(folder: Path, name: str, label: str | None = None, slowdown: float = 1.0,
                extra_traces: float = 0.0, stamp: str | None = None, commit: str | None = None) -> Path:
    """A copy of machine A's run with another label, scaled timings, more traces or another commit."""
    data = json.loads(MACHINE_A.read_text())
    if label:
        data["machine_info"]["tfreuse"]["label"] = label
    if stamp:
        data["datetime"] = stamp
    if commit:
        data["commit_info"]["id"] = commit
    for bench in data["benchmarks"]:
        stats = bench["stats"]
        stats["data"] = [x * slowdown for x in stats["data"]]
        for key in ("min", "max", "mean", "median", "stddev", "iqr"):
            stats[key] *= slowdown
        bench["extra_info"]["traces_per_step"] += extra_traces
    path = folder / name
    path.write_text(json.dumps(data))
    return path
