import mmap

import pytest

from tfreuse.probes.memory import MemoryWindow, growth_per_step, sampling_interval

MIB = 1 << 20


def test_growth_is_the_slope_of_a_line_through_the_samples():
    assert growth_per_step([100, 300, 500, 700]) == pytest.approx(200)
    assert growth_per_step([500]) == 0.0


def test_one_edge_jump_does_not_decide_the_slope():
    jump = 1 << 20
    flat_with_jump = [1000] * 19 + [1000 + jump]
    last_minus_first_per_step = jump / 19
    assert growth_per_step(flat_with_jump) < last_minus_first_per_step / 2


def _resident_mib(step: int) -> mmap.mmap:
    """1 MiB of new resident pages straight from the kernel, written so they are resident.

    Not from malloc: what earlier tests freed (and glibc's moving mmap threshold) would decide
    whether a malloc'd MiB reuses pages already resident, so RSS would depend on test order.
    """
    block = mmap.mmap(-1, MIB)
    block.write(bytes([step % 255 + 1]) * MIB)
    return block


def test_detects_a_leak_of_one_mib_per_step():
    kept = []
    with MemoryWindow("CPU:0") as window:
        for step in range(30):
            kept.append(_resident_mib(step))
            window.sample()
    assert 0.8 * MIB < window.growth_per_step < 1.25 * MIB
    assert window.peak_delta >= 25 * MIB


def test_reports_near_zero_for_a_no_op():
    with MemoryWindow("CPU:0") as window:
        for _ in range(30):
            window.sample()
    assert abs(window.growth_per_step) < 16 * 1024


@pytest.mark.parametrize("available", [True, False])
def test_allocator_figures_are_both_set_or_both_none(monkeypatch, available):
    from tfreuse.core import devices

    readings = iter([{"current": 1000, "peak": 1000}, {"current": 1600, "peak": 5000}])
    monkeypatch.setattr(devices, "allocator_stats", lambda device: next(readings) if available else None)
    monkeypatch.setattr(devices, "reset_allocator_peak", lambda device: None)
    with MemoryWindow("CPU:0") as window:
        window.sample()
    figures = (window.allocator_peak, window.allocator_peak_delta, window.allocator_current_delta)
    assert figures == ((5000, 4000, 600) if available else (None, None, None))


def test_sparse_samples_still_give_growth_per_step():
    kept = []
    with MemoryWindow("CPU:0", every=3) as window:
        for step in range(30):
            kept.append(_resident_mib(step))
            window.sample()
    assert window.steps == list(range(3, 31, 3)) and len(window.samples) == 10
    assert window.steps_seen == 30
    assert 0.8 * MIB < window.growth_per_step < 1.25 * MIB


def test_fast_steps_are_sampled_less_often():
    assert sampling_interval(1.0) == 1
    assert sampling_interval(0.05) == 1
    assert sampling_interval(5e-4) > sampling_interval(5e-3) > 1
    assert sampling_interval(0.0) == 1


# --- Bytes retained per step ---------------------------------------------------------------------

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402

import numpy as np  # noqa: E402
import psutil  # noqa: E402

from tfreuse.probes import memory  # noqa: E402
from tfreuse.probes.memory import RetainedWindow, native_heap_bytes, python_heap_bytes  # noqa: E402

KIB = 1024


def _retained(step, steps=30, **window):
    with RetainedWindow("CPU:0", **window) as retained:
        for _ in range(steps):
            step()
            retained.sample()
    return retained


def test_small_python_objects_live_where_only_pymalloc_counts_them():
    heap, python = native_heap_bytes(), python_heap_bytes()
    kept = [(i, str(i)) for i in range(50_000)]  # ~5 MB of objects under 512 B each
    python_growth, heap_growth = python_heap_bytes() - python, native_heap_bytes() - heap
    assert python_growth > 4_000_000
    # The heap sees only the list's pointer array (400 KB), not the objects in pymalloc's arenas.
    assert heap_growth < 1_000_000
    assert len(kept) == 50_000


def test_a_small_object_leak_is_counted_once():
    kept = []
    # Per step: 1000 bytes objects of 48 B (33 B header + 15), one 48 B pymalloc block each, and
    # 8 KB more of the list's pointer array, which is over 512 B and so in the C heap.
    retained = _retained(lambda: kept.extend(bytes(15) for _ in range(1000)))
    assert retained.slope("python_heap") == pytest.approx(48_000, rel=0.01)
    assert retained.slope("native_heap") == pytest.approx(8_000, rel=0.1)


def test_a_large_python_object_leak_is_counted_once():
    kept = []
    retained = _retained(lambda: kept.append(bytes(100 * KIB)))  # over 512 B: malloc, not pymalloc
    assert 0.95 * 100 * KIB < retained.retained_per_step < 1.1 * 100 * KIB
    assert abs(retained.slope("python_heap")) < 1 * KIB


def test_a_numpy_leak_is_counted_once():
    kept = []
    retained = _retained(lambda: kept.append(np.ones(1 << 18)))  # 2 MiB: malloc's own mmap
    assert 0.95 * 2 * MIB < retained.retained_per_step < 1.05 * 2 * MIB


def test_garbage_in_cycles_is_not_retained():
    def step():
        a, b = {}, {}
        a["b"], b["a"] = b, a  # a cycle only the collector frees
        a["payload"] = bytes(100 * KIB)

    assert abs(_retained(step).retained_per_step) < 2 * KIB


def test_a_no_op_retains_nothing():
    assert abs(_retained(lambda: None).retained_per_step) < 1 * KIB


def test_counters_get_slopes_of_their_own():
    kept = []
    retained = _retained(lambda: kept.append(1), counters={"kept": lambda: len(kept)})
    assert retained.slope("kept", digits=3) == 1.0


def test_without_heap_info_the_figure_is_null_with_a_reason(monkeypatch):
    monkeypatch.delattr(psutil, "heap_info")
    retained = _retained(lambda: None, steps=3)
    assert retained.retained_per_step is None
    assert retained.unavailable.startswith(f"psutil {psutil.__version__} has no heap_info()")


_TENSOR_LEAK = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    from tfreuse.probes.memory import RetainedWindow
    figures = {}
    for name, shape in (("large", (256, 1024)), ("small", (64, 64))):
        kept = []
        tf.zeros((4,))
        with RetainedWindow("CPU:0") as window:
            for _ in range(30):
                kept.append(tf.random.normal(shape))
                window.sample()
        figures[name] = {"total": window.retained_per_step, "heap": window.slope("native_heap"),
                         "allocator": window.slope("allocator"), "components": window.components}
    print(json.dumps(figures))
""")


@pytest.mark.slow
@pytest.mark.parametrize("bfc", ["1", "0"])
def test_tensors_are_counted_once_whichever_cpu_allocator(bfc):
    # The CPU pool (BFC with TF_CPU_ALLOCATOR_USE_BFC=1, oneDNN's otherwise) takes its regions
    # from malloc: without the reserved headroom a 1 MiB/step leak read 1.67 MiB/step of heap
    # (regions doubling), and heap + allocator would read 2.67. Measured: 1024 KiB/step, heap
    # under 1 KiB/step. 16 KiB tensors: in the pool with BFC, in malloc directly with oneDNN's.
    env = {**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": bfc, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    completed = subprocess.run([sys.executable, "-c", _TENSOR_LEAK], env=env, capture_output=True,
                               text=True, check=True)
    import json

    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    large, small = figures["large"], figures["small"]
    assert large["components"] == "native heap + pymalloc + CPU:0 allocator current"
    assert 0.97 * MIB < large["total"] < 1.05 * MIB
    assert large["allocator"] == MIB and abs(large["heap"]) < 16 * KIB
    assert 15 * KIB < small["total"] < 18 * KIB
    assert small["allocator"] in ((16 * KIB,) if bfc == "1" else (0.0, 16 * KIB))


def test_pool_headroom_exceeded_makes_the_figure_null_with_the_reason():
    import tensorflow as tf

    if memory.devices.allocator_stats("CPU:0") is None:
        pytest.skip("no allocator stats for CPU:0 here (oneDNN off, BFC off)")
    kept = []
    retained = _retained(lambda: kept.append(tf.random.normal((256, 1024))), steps=6,
                         headroom=2 * MIB)
    assert retained.retained_per_step is None
    assert "past the 2097152 bytes reserved" in retained.unavailable


class _FakeGpuAllocator:
    """allocator_stats for `GPU:0` whose `current` grows by `per_step` bytes at each reading."""

    def __init__(self, per_step: int | None):
        self.per_step, self.current = per_step, 1 << 30

    def stats(self, device: str):
        assert device == "GPU:0"
        if self.per_step is None:
            return None
        self.current += self.per_step
        return {"current": self.current, "peak": self.current}


@pytest.mark.parametrize("per_step", [256 * KIB, None])
def test_on_a_gpu_device_memory_is_part_of_the_retained_figure(monkeypatch, per_step):
    # Device memory is not in the host heap: a GPU row adds its allocator's growth (no pool
    # headroom: that is for the CPU pool, whose regions come from malloc), or is null without it.
    fake = _FakeGpuAllocator(per_step)
    monkeypatch.setattr(memory.devices, "allocator_stats", fake.stats)
    monkeypatch.setattr(memory.devices, "reset_allocator_peak", lambda device: None)
    with RetainedWindow("GPU:0") as window:
        for _ in range(10):
            window.sample()
    if per_step is None:
        assert window.retained_per_step is None
        assert window.unavailable == "no allocator stats for GPU:0: device memory would go uncounted"
    else:
        assert window.components == "native heap + pymalloc + GPU:0 allocator current"
        assert window.slope("allocator") == per_step
        assert abs(window.retained_per_step - per_step) < 16 * KIB


@pytest.mark.parametrize("counts, per_step", [([10, 11, 12, 13, 14], 1.0), ([10, 10, 11, 11, 11, 11], 0.0),
                                              ([5, 5, 5], 0.0), ([7], 0.0), ([3, None, 4], None)])
def test_a_count_kept_every_step_is_its_median_change_a_one_off_is_not(counts, per_step):
    from tfreuse.probes.memory import RetainedWindow

    window = RetainedWindow("CPU:0")
    window.samples["threads"] = counts
    assert window.typical_step("threads") == per_step
