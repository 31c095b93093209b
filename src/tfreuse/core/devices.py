"""Devices: which ones run, how a step is waited for, and what TensorFlow's allocator says.

TensorFlow is imported inside the functions that need it, so option parsing and the pure
selection logic stay importable (and testable) without it.
"""

from __future__ import annotations

import os
import re
import statistics
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

_DEVICE_NAME = re.compile(r"^(?:/?(?:physical_)?device:)?(?P<kind>cpu|gpu):(?P<index>\d+)$", re.IGNORECASE)
KEYWORDS = ("all", "cpu", "gpu")
# Read by TensorFlow's GPU allocator when a GPU initialises: exactly "true" or "false" overrides
# whatever set_memory_growth said; any other value is ignored (with an error in TensorFlow's log).
GROWTH_ENV = "TF_FORCE_GPU_ALLOW_GROWTH"


class GpuMemoryWarning(UserWarning):
    """A GPU runs without memory growth: its allocator figures show TensorFlow's pool, not use."""


@dataclass(frozen=True)
class DeviceChoice:
    """A device to parametrize over; `skip_reason` is set when it was asked for but is absent."""

    name: str
    skip_reason: str | None = None


def is_gpu(device: str) -> bool:
    """True for a GPU name (`GPU:0`, `/device:GPU:1`): its kernels run asynchronously."""
    match = _DEVICE_NAME.match(device.strip())
    return bool(match) and match["kind"].upper() == "GPU"


def normalize(name: str) -> str:
    """`/device:gpu:0`, `gpu:0` or `GPU:0` -> `GPU:0`; raise ValueError for anything else."""
    match = _DEVICE_NAME.match(name.strip())
    if not match:
        raise ValueError(
            f"{name!r} is not a device name; use CPU:0, GPU:<n>, or one of {', '.join(KEYWORDS)}"
        )
    return f"{match['kind'].upper()}:{int(match['index'])}"


def select_devices(requested: str | None, visible: Sequence[str]) -> list[DeviceChoice]:
    """Turn a `--devices` value into devices to run, keeping absent ones as skips with a reason.

    `None` or `all` means every visible device; `cpu` / `gpu` every visible device of that kind;
    otherwise a comma-separated list of names. A GPU asked for but not visible is never dropped.
    """
    visible = [normalize(name) for name in visible]
    seen_text = ", ".join(visible) or "no device"
    chosen: list[DeviceChoice] = []
    for token in (requested or "all").split(","):
        token = token.strip()
        if not token:
            continue
        keyword = token.lower()
        if keyword == "all":
            names = visible
        elif keyword in ("cpu", "gpu"):
            names = [name for name in visible if name.lower().startswith(keyword)]
            if not names:
                chosen.append(DeviceChoice(
                    keyword.upper(), f"no {keyword.upper()} visible to TensorFlow (it sees {seen_text})"
                ))
        else:
            name = normalize(token)
            names = [name]
            if name not in visible:
                chosen.append(DeviceChoice(
                    name, f"{name} requested but TensorFlow sees only {seen_text}"
                ))
                names = []
        chosen.extend(DeviceChoice(name) for name in names)
    unique: dict[str, DeviceChoice] = {}
    for choice in chosen:
        unique.setdefault(choice.name, choice)
    return list(unique.values())


def visible_devices() -> list[str]:
    """Logical devices TensorFlow sees, as `CPU:0`, `GPU:0`, ... (initialises TensorFlow)."""
    import tensorflow as tf

    enable_gpu_memory_growth()
    return [normalize(device.name) for device in tf.config.list_logical_devices()
            if device.device_type in ("CPU", "GPU")]


def enable_gpu_memory_growth(
    gpus: Iterable | None = None, set_memory_growth: Callable | None = None
) -> int:
    """Ask TensorFlow to grow GPU memory on demand so allocator figures mean something.

    Must run before the GPUs initialise (TF otherwise reserves most of their memory up front).
    TensorFlow refuses with RuntimeError once they have (TensorFlow started before the plugin)
    and with ValueError when virtual devices are configured: neither can be undone here, so
    both are left for `memory_growth` to record and the plugin to warn about. Returns how many
    GPUs were set.
    """
    if gpus is None or set_memory_growth is None:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU") if gpus is None else gpus
        set_memory_growth = set_memory_growth or tf.config.experimental.set_memory_growth
    done = 0
    for gpu in gpus:
        try:
            set_memory_growth(gpu, True)
            done += 1
        except (RuntimeError, ValueError):
            pass
    return done


def memory_growth(gpus: Iterable | None = None, get_memory_growth: Callable | None = None,
                  environ: Mapping[str, str] | None = None) -> dict[str, bool]:
    """Whether each physical GPU grows its memory on demand, by name (`GPU:0`: True).

    `TF_FORCE_GPU_ALLOW_GROWTH=true` or `=false` decides over `set_memory_growth`, as in
    TensorFlow's GPU allocator; otherwise what was set before the GPU initialised.
    """
    if gpus is None or get_memory_growth is None:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU") if gpus is None else gpus
        get_memory_growth = get_memory_growth or tf.config.experimental.get_memory_growth
    forced = (os.environ if environ is None else environ).get(GROWTH_ENV)
    status = {}
    for gpu in gpus:
        name = normalize(getattr(gpu, "name", gpu))
        status[name] = forced == "true" if forced in ("true", "false") else bool(get_memory_growth(gpu))
    return status


def warn_without_growth(growth: Mapping[str, bool], selected: Iterable[str]) -> str | None:
    """Warn (GpuMemoryWarning) when a selected GPU runs without memory growth; the text or None."""
    missing = [name for name in selected if is_gpu(name) and growth.get(name) is False]
    if not missing:
        return None
    text = (f"memory growth is off on {', '.join(missing)} (TensorFlow initialised its GPUs before "
            f"tfreuse, or virtual devices are configured): its allocator reserved most of the memory "
            f"up front. Start TensorFlow after the plugin, or set {GROWTH_ENV}=true.")
    warnings.warn(text, GpuMemoryWarning, stacklevel=2)
    return text


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process that runs TensorFlow (isolated cases, self-check runs).

    The plugin's set_memory_growth works only if nothing started TensorFlow's GPUs first (a
    conftest or a user's module may); TensorFlow's allocator reads `TF_FORCE_GPU_ALLOW_GROWTH`
    whenever a GPU starts, so children grow memory either way (unless the user set it).
    """
    return {**os.environ, GROWTH_ENV: os.environ.get(GROWTH_ENV, "true"), **(extra or {})}


def waiter(device: str) -> Callable[[], None] | None:
    """What to call after a step so the timer stops only when `device` has finished it.

    On GPU, kernels run asynchronously. `tf.test.experimental.sync_devices()` runs a SyncDevice
    op on every logical device (CPU included), then waits for TensorFlow's async executors; this
    does the same for the case's own device only (SyncDevice on a GPU synchronises its compute
    stream; TF 2.12+, eager only). On CPU, eager ops have finished when they return, so nothing
    is added to the timer.
    """
    if not is_gpu(device):
        return None
    import tensorflow as tf
    from tensorflow.python.eager import context  # async_wait: what sync_devices() calls, not exported

    name = normalize(device)

    def wait_for_device() -> None:
        with tf.device(name):
            tf.raw_ops.SyncDevice()
        context.async_wait()

    return wait_for_device


def wait_cost(device: str, repeats: int = 200) -> float:
    """Median seconds one `waiter(device)` call adds to a timer when the device is idle (0 on CPU).

    The wait sits inside every timed GPU step: this is its fixed part, measured on an empty step.
    """
    wait = waiter(device)
    if wait is None:
        return 0.0
    wait()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        wait()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def warm_up(device: str) -> dict:
    """Run a small matmul and a convolution on `device` and wait for them, outside any case.

    The first kernels on a GPU pay its one-time start-up (CUDA context, cuBLAS and cuDNN handles,
    autotuning): without this it would land in the first GPU case's `first_step_s`. Constant
    inputs, so no random generator moves. Returns the seconds it took and where the ops ran.
    """
    import tensorflow as tf

    name = normalize(device)
    started = time.perf_counter()
    with tf.device(name):
        square = tf.ones((64, 64))
        product = tf.linalg.matmul(square, square)
        image = tf.nn.conv2d(tf.ones((1, 16, 16, 3)), tf.ones((3, 3, 3, 8)), strides=1, padding="SAME")
        wait = waiter(name)
        if wait is not None:
            wait()
        float(tf.reduce_sum(product)) + float(tf.reduce_sum(image))
    return {"warm_up_s": time.perf_counter() - started,
            "placed_on": sorted({normalize(t.device.rsplit("/", 1)[-1]) for t in (product, image)})}


def allocator_stats(device: str) -> dict | None:
    """TensorFlow allocator `{'current', 'peak'}` bytes for `device`, or None where unavailable."""
    import tensorflow as tf

    try:
        return dict(tf.config.experimental.get_memory_info(device))
    except (ValueError, RuntimeError):
        return None


def reset_allocator_peak(device: str) -> None:
    """Reset the allocator peak for `device` where it has stats; do nothing elsewhere."""
    import tensorflow as tf

    try:
        tf.config.experimental.reset_memory_stats(device)
    except (ValueError, RuntimeError):
        pass


def gpu_details() -> list[dict]:
    """Name, compute capability and memory growth of each physical GPU (empty list on a CPU-only machine)."""
    import tensorflow as tf

    details = []
    gpus = tf.config.list_physical_devices("GPU")
    growth = memory_growth(gpus)
    for gpu in gpus:
        info = tf.config.experimental.get_device_details(gpu)
        capability = info.get("compute_capability")
        details.append({
            "device": gpu.name,
            "name": info.get("device_name", "unknown"),
            "compute_capability": ".".join(map(str, capability)) if capability else None,
            "memory_growth": growth[normalize(gpu.name)],
        })
    return details
