"""Operating-system resources a step can leak besides bytes: open file descriptors and threads.

A writer made per step keeps a file open; a data pipeline or a callback made per step can keep a
thread. Counted for the whole process (psutil) after each step of the untimed memory window, after
its gc.collect(), so what a step merely held for a moment is gone; the figure is the slope per step.
"""

from __future__ import annotations

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
