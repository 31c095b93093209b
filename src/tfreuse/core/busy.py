"""Was the machine busy while a process measured? CPU time other processes used, steal, load.

Timings taken while other processes run are not the code's: they compete for the cores, the
caches and the memory bus. A `BusyWatch` started with the process reads, at the end, the CPU time
every process on the machine used (`psutil.cpu_times()`: user, nice, system, irq, softirq)
minus what this process and its children used, the time the hypervisor stole from this machine
where the kernel reports it, and the load average at both ends. Other processes' CPU time above
`BUSY_CORES` cores on average, or steal above `BUSY_STEAL` of the wall time, marks the run busy:
the report, `tfreuse bench`, `tfreuse ab` and the selfcheck then say its timings are unreliable,
and the calibration refuses it unless told otherwise.
"""

from __future__ import annotations

import os
import time
from typing import Any

# Other processes' CPU time, in cores on average over the run, above which the machine was busy.
# A quiet machine's own daemons use a few thousandths of a core (docs/methodology.md, "A busy machine").
BUSY_CORES = 0.25
# Share of the wall time stolen by the hypervisor (on every core, on average) above which it was busy.
BUSY_STEAL = 0.05
_BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq")


def _machine_cpu() -> tuple[float, float | None]:
    """CPU seconds every process on the machine has used since boot, and those stolen (None where
    the system does not say)."""
    import psutil

    times = psutil.cpu_times()
    used = sum(getattr(times, name, 0.0) for name in _BUSY_FIELDS)
    steal = getattr(times, "steal", None)
    return used, steal


def _own_cpu() -> float:
    """CPU seconds this process, its finished children and its running children have used."""
    import psutil

    me = psutil.Process()
    times = me.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in me.children(recursive=True):
        try:
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
        except psutil.Error:
            continue
    return total


def _load() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):  # Windows
        return None


class BusyWatch:
    """Started when a process begins to measure; `figures()` at its end says how busy the machine was."""

    def __init__(self) -> None:
        self._started = time.monotonic()
        self._machine, self._steal = _machine_cpu()
        self._own = _own_cpu()
        self._load = _load()

    def figures(self) -> dict[str, Any]:
        """What the run records (`machine_info.tfreuse.busy`)."""
        import psutil

        wall = max(time.monotonic() - self._started, 1e-9)
        machine, steal = _machine_cpu()
        other = max(0.0, (machine - self._machine) - (_own_cpu() - self._own))
        cores = psutil.cpu_count() or 1
        stolen = None if steal is None or self._steal is None else max(0.0, steal - self._steal)
        other_cores = other / wall
        steal_share = None if stolen is None else stolen / (wall * cores)
        reasons = []
        if other_cores > BUSY_CORES:
            reasons.append(f"other processes used {other_cores:.2f} of a core on average")
        if steal_share is not None and steal_share > BUSY_STEAL:
            reasons.append(f"the hypervisor stole {steal_share:.0%} of the CPU time")
        return {
            "busy": bool(reasons),
            "why": "; ".join(reasons) or None,
            "seconds": round(wall, 1),
            "other_cpu_seconds": round(other, 2),
            "other_cores": round(other_cores, 3),
            "steal_seconds": None if stolen is None else round(stolen, 2),
            "load_average_start": self._load,
            "load_average_end": _load(),
            "cores": cores,
            "busy_above_cores": BUSY_CORES,
        }


def verdict(busy: dict | None) -> str | None:
    """One sentence for a run whose machine was busy, else None (quiet, or not recorded)."""
    if not busy or not busy.get("busy"):
        return None
    load = busy.get("load_average_end")
    return (f"the machine was busy ({busy['why']}"
            + (f"; load average {load[0]:.2f}" if load else "") + "): its timings are unreliable")


def busy_now(seconds: float = 5.0) -> str | None:
    """Why the machine is busy now (watched for `seconds`, this process idle), else None: what a
    calibration asks before it starts."""
    watch = BusyWatch()
    time.sleep(seconds)
    figures = watch.figures()
    return f"the machine is busy ({figures['why']} over {seconds:g} s)" if figures["busy"] else None


def of_results(json_path) -> str | None:
    """The busy sentence of one pytest-benchmark JSON that a tfreuse run wrote, else None."""
    import json
    from pathlib import Path

    try:
        data = json.loads(Path(json_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return verdict(((data.get("machine_info") or {}).get("tfreuse") or {}).get("busy"))
