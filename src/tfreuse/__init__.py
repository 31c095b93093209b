"""tfreuse: measure what it costs to re-create TensorFlow variables instead of reusing them.

The public API, importable from here without importing TensorFlow (each name loads its module
on first use):

- writing a scenario: `Scenario`, `Step`, `Context`, `Case`, `benchmark_test`; what its variants
  and modes mean: `Variant`, `MODE_PHRASES`, `KERAS_MODE_PHRASES`;
- Keras helpers for variants: `make_redrawable`, `reinitialize`, `prebuild`;
- a user's own layer: `LayerReuse` (the `reuse_benchmark` fixture builds on it);
- the reuse guard: `ReuseGuard`, `ReuseError`;
- the record: `SCHEMA_VERSION`, `FIELDS`; reading results: `load`, `analyze`.

The package's layers, lowest first; a module imports only from its own layer and those below it:
- `core`: the record's contract, profiles, statistics, the machine and its devices, errors, files;
- `probes` (on the core): tracing, memory, variables and instructions, measured around steps;
- `report` (on the core alone): records read, analysed and written as tables, plots and HTML;
- `engine` (on the probes): the harness that makes, times, probes and records a case;
- `tools` (on the probes): the reuse guard and `tfreuse watch`, for users' own code;
- `scenarios` (on the engine): scenario families the benchmarks and users' layers share;
- `commands` (on everything): the `tfreuse` command and the pytest plugin.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "Scenario": "tfreuse.engine.harness",
    "Step": "tfreuse.engine.harness",
    "Context": "tfreuse.engine.harness",
    "Case": "tfreuse.engine.harness",
    "benchmark_test": "tfreuse.engine.harness",
    "Variant": "tfreuse.core.roles",
    "MODE_PHRASES": "tfreuse.core.roles",
    "KERAS_MODE_PHRASES": "tfreuse.core.roles",
    "make_redrawable": "tfreuse.engine.layers",
    "reinitialize": "tfreuse.engine.layers",
    "prebuild": "tfreuse.engine.layers",
    "LayerReuse": "tfreuse.scenarios.layer_reuse",
    "ReuseGuard": "tfreuse.tools.guard",
    "ReuseError": "tfreuse.tools.guard",
    "SCHEMA_VERSION": "tfreuse.core.schema",
    "FIELDS": "tfreuse.core.schema",
    "load": "tfreuse.report.load",
    "analyze": "tfreuse.report.analyze",
}
__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'tfreuse' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
