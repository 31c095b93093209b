"""`--tfreuse-isolate`: a case's probe figures from a fresh Python process that runs only it.

As asv measures peak memory in a new process per benchmark: nothing that ran before in the same
process (allocator pools, tf.function caches, frozen heap) can move the figures. The fresh process
is `python -m pytest NODEID --benchmark-disable` with the same profile and device, and GPU memory
growth asked for through the environment (`devices.child_environment`); it hands its record back
through a file named in the environment. Timing stays in the main process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from tfreuse.core import schema
from tfreuse.core.devices import child_environment

RECORD_ENV = "TFREUSE_ISOLATED_RECORD"
# The probes' figures, which could depend on what ran before in the process; the rest stay the
# main process's (`probe_process` is what this module sets).
FIGURES = tuple(name for name in schema.names(schema.PROBE) if name != "probe_process")


def hand_back(record: dict) -> bool:
    """In the fresh process, write `record` where the main process waits for it; else False."""
    destination = os.environ.get(RECORD_ENV)
    if not destination:
        return False
    Path(destination).write_text(json.dumps(record))
    return True


def figures_from_fresh_process(nodeid: str, rootdir: Path, profile: str, device: str,
                               options: Mapping[str, str | None]) -> dict:
    """Run test `nodeid` alone in a new process; its FIGURES plus `probe_process: isolated`."""
    with tempfile.TemporaryDirectory(prefix="tfreuse-isolated-") as folder:
        record_path = Path(folder) / "record.json"
        command = [sys.executable, "-m", "pytest", nodeid, "-q", "-p", "no:cacheprovider",
                   "--benchmark-disable", "--tfreuse-profile", profile, "--tfreuse-devices", device]
        for name, value in options.items():
            if value:
                command += [f"--tfreuse-{name}", value]
        completed = subprocess.run(command, cwd=rootdir, capture_output=True, text=True, check=False,
                                   env=child_environment({RECORD_ENV: str(record_path)}))
        if completed.returncode != 0 or not record_path.exists():
            last = (completed.stdout.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"isolated run of {nodeid} failed: {last}")
        child = json.loads(record_path.read_text())
    return {**{key: child[key] for key in FIGURES}, "probe_process": "isolated"}
