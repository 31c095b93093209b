"""Memory: bytes retained per step (C heap, pymalloc, TensorFlow allocator) and process RSS."""

from __future__ import annotations

import gc
import os
import re
import sys
import tempfile

import numpy as np
import psutil

from tfreuse.core import devices

_THIS_PROCESS: list[psutil.Process] = []


def rss_bytes() -> int:
    """Resident set size of this process now (~30 us; a new psutil.Process each time costs ~85 us)."""
    if not _THIS_PROCESS or _THIS_PROCESS[0].pid != os.getpid():
        _THIS_PROCESS[:] = [psutil.Process()]
    return _THIS_PROCESS[0].memory_info().rss


def growth_per_step(samples: list[int], steps: list[int] | None = None, digits: int = 1) -> float:
    """Slope per step of a least-squares line through samples (taken after `steps`), rounded.

    A fit rather than last-minus-first, so one page released or grabbed by the allocator at the
    edge of the window does not decide the figure. `steps` defaults to 0, 1, 2, ...
    """
    if len(samples) < 2:
        return 0.0
    x = np.arange(len(samples)) if steps is None else np.asarray(steps, dtype=float)
    slope, _intercept = np.polyfit(x, np.asarray(samples, dtype=float), 1)
    return round(float(slope), digits) + 0.0  # no -0.0 in the record


# Reading RSS costs ~30 us and slows the next step by about as much (caches): on a 0.5 ms step,
# reading after every step would add ~5% to its timing. The window reads it every few steps,
# so that on average the reads cost at most this share of a step.
SAMPLING_SHARE = 0.005
SAMPLE_COST_SECONDS = 60e-6


def sampling_interval(step_seconds: float) -> int:
    """Read RSS after every n-th step: 1 for slow steps, more for fast ones."""
    if step_seconds <= 0:
        return 1
    return max(1, int(np.ceil(SAMPLE_COST_SECONDS / (SAMPLING_SHARE * step_seconds))))


class MemoryWindow:
    """RSS after the steps of a window, plus the device allocator where it has stats.

    Call `sample()` after every step; RSS is read after every `every`-th one (and `steps` says
    after which). Garbage is collected before the baseline so that warm-up garbage is not freed
    in the middle of the window.
    """

    def __init__(self, device: str, every: int = 1):
        self.device = device
        self.every = every
        self.steps_seen = 0
        self.samples: list[int] = []
        self.steps: list[int] = []

    def __enter__(self) -> MemoryWindow:
        gc.collect()
        devices.reset_allocator_peak(self.device)
        self._allocator_start = devices.allocator_stats(self.device)
        self.baseline = rss_bytes()
        return self

    def sample(self) -> None:
        """Call once after each step: records RSS after every `every`-th step."""
        self.steps_seen += 1
        if self.steps_seen % self.every == 0:
            self.samples.append(rss_bytes())
            self.steps.append(self.steps_seen)

    def __exit__(self, *exc_info) -> None:
        allocator_end = devices.allocator_stats(self.device)
        if self._allocator_start is None or allocator_end is None:
            self.allocator_peak = self.allocator_peak_delta = self.allocator_current_delta = None
        else:
            self.allocator_peak = int(allocator_end["peak"])
            # The peak counts everything alive, earlier cases' tensors too; above the start it does not.
            self.allocator_peak_delta = int(allocator_end["peak"] - self._allocator_start["current"])
            self.allocator_current_delta = int(allocator_end["current"] - self._allocator_start["current"])

    @property
    def growth_per_step(self) -> float:
        """RSS growth in bytes per step over the window."""
        return growth_per_step(self.samples, self.steps)

    @property
    def peak_delta(self) -> int:
        """Highest RSS sampled in the window minus the baseline taken just before it."""
        return max(self.samples, default=self.baseline) - self.baseline


# --- Bytes retained per step: what a case keeps, from bytes in use (not pages resident) ---------
#
# RSS grows only when the allocator runs out of free pages, so its growth depends on what ran
# before in the process. Bytes in use do not. Three places hold them, each counted once:
# - the C heap (`psutil.heap_info()`: `heap_used + mmap_used`, glibc's mallinfo2 on Linux): graphs,
#   function caches, TensorFlow's C++ objects, Python objects over 512 bytes, and tensor buffers
#   TensorFlow takes from malloc directly;
# - pymalloc's arenas, which CPython maps itself (mmap), so malloc's counters never see the Python
#   objects of 512 bytes or less that live there: "# bytes in allocated blocks" of
#   `sys._debugmallocstats()` (tracemalloc would count the larger objects a second time, and
#   `sys.getallocatedblocks()` counts blocks, not bytes);
# - TensorFlow's allocator `current` where it has stats: on GPU, device memory; on CPU, its pool
#   (BFC, oneDNN's allocator). That pool's regions come from malloc and double in size as it
#   grows, so the heap would count reservations, not tensors: the window reserves headroom in the
#   pool first (one untouched, freed buffer), so no region is added inside it, and tensors there
#   are counted by `current` alone.

_MALLOC_STATS_LINE = re.compile(rb"# bytes in allocated blocks\s*=\s*([\d,]+)")


def native_heap_bytes() -> int | None:
    """C heap bytes in use (`heap_used + mmap_used`), or None where psutil cannot read them."""
    heap_info = getattr(psutil, "heap_info", None)
    if heap_info is None:
        return None
    try:
        info = heap_info()
    except (NotImplementedError, OSError, psutil.Error):
        return None
    return int(info.heap_used + info.mmap_used)


def native_heap_unavailable() -> str | None:
    """Why the C heap's bytes in use cannot be read here, or None when they can."""
    if getattr(psutil, "heap_info", None) is None:
        return f"psutil {psutil.__version__} has no heap_info() (needs psutil 7.1+ on Linux, macOS or Windows)"
    if native_heap_bytes() is None:
        return f"psutil.heap_info() fails on {sys.platform}"
    return None


def python_heap_bytes() -> int | None:
    """Bytes in pymalloc blocks in use, from `sys._debugmallocstats()` (~0.5 ms with TensorFlow).

    0 when pymalloc is off (PYTHONMALLOC=malloc: every object is in the C heap); None where the
    statistics cannot be read (another allocator, e.g. mimalloc in a free-threaded build).
    """
    if os.environ.get("PYTHONMALLOC", "").startswith("malloc"):
        return 0
    dump = getattr(sys, "_debugmallocstats", None)
    if dump is None:
        return None
    # The statistics go to C's stderr: point file descriptor 2 at a temporary file meanwhile
    # (what another thread writes to stderr in that half-millisecond is lost with them).
    with tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(captured.fileno(), 2)
            dump()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        match = _MALLOC_STATS_LINE.search(captured.read())
    return int(match[1].replace(b",", b"")) if match else None


def _pool_headroom(device: str, size: int) -> bool:
    """Make sure TensorFlow's pool on `device` has `size` free bytes (one untouched buffer, freed)."""
    import tensorflow as tf

    try:
        with tf.device(device):
            buffer = tf.raw_ops.Empty(shape=[size], dtype=tf.uint8, init=False)
        del buffer
    except (tf.errors.ResourceExhaustedError, ValueError, RuntimeError):
        return False
    return True


DEFAULT_HEADROOM = 64 << 20


class RetainedWindow:
    """Bytes in use after each step of an untimed window (after a gc.collect()); their slope.

    Call `sample()` after each step. `counters` are read at the same moments (after the same
    collection), e.g. live variables or tf.function cache entries, and get slopes of their own.
    On CPU with allocator stats, `headroom` free bytes are secured in TensorFlow's pool before
    the window; if the tensors' peak in it went past that, the pool may have grown inside the
    window and the figure is null with that reason.
    """

    def __init__(self, device: str, counters: dict | None = None, headroom: int = DEFAULT_HEADROOM):
        self.device = device
        self.counters = dict(counters or {})
        self.headroom = headroom
        self.steps = 0
        self.samples: dict[str, list[int]] = {}
        self.unavailable: str | None = native_heap_unavailable()

    def __enter__(self) -> RetainedWindow:
        self._allocator = devices.allocator_stats(self.device) is not None
        self._reserved = self._allocator and not devices.is_gpu(self.device)
        if devices.is_gpu(self.device) and not self._allocator:
            self.unavailable = f"no allocator stats for {self.device}: device memory would go uncounted"
        if self._reserved and not _pool_headroom(self.device, self.headroom):
            self.unavailable = f"could not reserve {self.headroom} bytes in TensorFlow's {self.device} pool"
        if python_heap_bytes() is None and self.unavailable is None:
            self.unavailable = "pymalloc statistics unavailable (sys._debugmallocstats has no pymalloc section)"
        devices.reset_allocator_peak(self.device)
        self._start_current = (devices.allocator_stats(self.device) or {}).get("current", 0)
        # Collect, then move the survivors to the permanent generation (as
        # `conditions.prepare_case` does at the start of each case, so this collection walks only
        # what the case made), so each collection below scans only what the window made (~0.5 ms
        # instead of ~150 ms with TensorFlow loaded). They stay frozen after the window, as the
        # harness's policy is: unfreezing would make every later collection walk the whole heap.
        gc.collect()
        gc.freeze()
        return self

    def sample(self) -> None:
        """Collect garbage, then read every component and counter (call once after each step).

        No reading before the first step: the slope runs through the steps' readings only, so
        a first step that differs (e.g. frees what the timed rounds left) does not tilt it.
        """
        self.steps += 1
        gc.collect()
        readings = {"native_heap": native_heap_bytes(), "python_heap": python_heap_bytes()}
        if self._allocator:
            readings["allocator"] = (devices.allocator_stats(self.device) or {}).get("current")
        readings.update({name: read() for name, read in self.counters.items()})
        for name, value in readings.items():
            self.samples.setdefault(name, []).append(value)

    def __exit__(self, *exc_info) -> None:
        stats = devices.allocator_stats(self.device) if self._reserved else None
        if stats is not None and stats["peak"] - self._start_current > self.headroom and self.unavailable is None:
            self.unavailable = (f"tensors in TensorFlow's {self.device} pool peaked "
                                f"{stats['peak'] - self._start_current} bytes above the window's start, past the "
                                f"{self.headroom} bytes reserved: its regions may have grown inside the window")

    def slope(self, name: str, digits: int = 1) -> float | None:
        """Least-squares growth per step of one reading (None if it was unreadable)."""
        values = self.samples.get(name)
        if not values or any(v is None for v in values):
            return None
        return growth_per_step(values, digits=digits)

    def typical_step(self, name: str) -> float | None:
        """The median step-to-step change of a count (None if it was unreadable): what a step keeps
        every time. A pool that grows once in the window (a thread started lazily by whatever ran
        before) moves one step's change, not the median, as it would move a slope."""
        values = self.samples.get(name)
        if not values or any(v is None for v in values):
            return None
        return float(np.median(np.diff(values))) + 0.0 if len(values) > 1 else 0.0

    @property
    def components(self) -> str:
        """What `retained_per_step` adds up, in words."""
        names = ["native heap", "pymalloc"]
        if self._allocator:
            names.append(f"{self.device} allocator current")
        return " + ".join(names)

    @property
    def retained_per_step(self) -> float | None:
        """Bytes kept per step: the components' slopes added; None with `unavailable` set."""
        if self.unavailable is not None:
            return None
        parts = [self.slope("native_heap"), self.slope("python_heap")]
        if self._allocator:
            parts.append(self.slope("allocator"))
        return None if None in parts else round(sum(parts), 1)


def retained_bytes() -> int | None:
    """Bytes in use now, after a garbage collection (C heap plus pymalloc blocks, as in
    RetainedWindow): what the guard and `tfreuse watch` compare between two moments.
    None where either part cannot be read (never RSS in its place)."""
    gc.collect()
    native, python = native_heap_bytes(), python_heap_bytes()
    return None if native is None or python is None else native + python
