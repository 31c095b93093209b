"""Operating-system resources a step can leak besides bytes: open file descriptors and threads.

A writer made per step keeps a file open; a data pipeline or a callback made per step can keep a
thread. Counted for the whole process (psutil) after each step of the untimed memory window, after
its gc.collect(), so what a step merely held for a moment is gone; the figure is the median change
from one step to the next (`RetainedWindow.typical_step`), what every step keeps.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import psutil


def open_descriptors() -> int | None:
    """Open file descriptors of this process (handles on Windows); None where neither is known."""
    process = psutil.Process()
    for count in ("num_fds", "num_handles"):
        if hasattr(process, count):
            return int(getattr(process, count)())
    return None


def threads() -> int:
    """Threads of this process, native ones (TensorFlow's, a pipeline's) included."""
    return int(psutil.Process().num_threads())


@dataclass(frozen=True)
class Held:
    """What the process holds at one moment: its open descriptors (number -> what each is, where
    the system says) and its threads (the count, and the Python ones by name)."""

    descriptors: dict[int, str] | None
    descriptor_count: int | None
    threads: int
    python_threads: frozenset[str]

    def opened_since(self, before: Held) -> list[str]:
        """What each descriptor open now and not then is (a file's path, a socket, a pipe)."""
        if self.descriptors is None or before.descriptors is None:
            return []
        return [target for fd, target in sorted(self.descriptors.items()) if before.descriptors.get(fd) != target]


def held() -> Held:
    """The descriptors and threads this process holds now."""
    targets = _descriptor_targets()
    count = len(targets) if targets is not None else open_descriptors()
    return Held(targets, count, threads(), frozenset(thread.name for thread in threading.enumerate()))


def _descriptor_targets() -> dict[int, str] | None:
    """Each open descriptor's target (Linux's /proc/self/fd); None where the system has no such list."""
    folder = Path("/proc/self/fd")
    if not folder.is_dir():
        return None
    targets = {}
    for entry in folder.iterdir():
        try:
            targets[int(entry.name)] = os.readlink(entry)
        except (OSError, ValueError):  # closed since it was listed (the listing's own descriptor)
            continue
    return targets
