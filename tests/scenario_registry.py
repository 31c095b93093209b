"""Every benchmark module's scenario, found the way pytest finds them (test_*.py in benchmarks/)."""

import importlib
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def benchmark_modules():
    """Imported benchmark modules, by file name."""
    return {path.stem: importlib.import_module(f"benchmarks.{path.stem}")
            for path in sorted(BENCHMARKS.glob("test_*.py"))}


def scenarios():
    """(module name, scenario) for every benchmark test function that tfreuse parametrizes."""
    found = []
    for name, module in benchmark_modules().items():
        for attribute in vars(module).values():
            scenario = getattr(attribute, "tfreuse_scenario", None)
            if scenario is not None:
                found.append((name, scenario))
    return found
