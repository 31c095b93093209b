"""Devices: which ones run, how a step is waited for, and what TensorFlow's allocator says.

TensorFlow is imported inside the functions that need it, so option parsing and the pure
selection logic stay importable (and testable) without it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

_DEVICE_NAME = re.compile(r"^(?:/?device:)?(?P<kind>cpu|gpu):(?P<index>\d+)$", re.IGNORECASE)
KEYWORDS = ("all", "cpu", "gpu")


@dataclass(frozen=True)
class DeviceChoice:
    """A device to parametrize over; `skip_reason` is set when it was asked for but is absent."""

    name: str
    skip_reason: str | None = None

    @property
    def is_gpu(self) -> bool:
        """True for GPU devices (they need a sync before the timer stops)."""
        return self.name.startswith("GPU")


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

    Must run before the GPUs initialise (TF otherwise reserves most of their memory up front);
    a GPU already initialised raises RuntimeError, which is ignored: nothing can be done then.
    Returns how many GPUs were set.
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
        except RuntimeError:
            pass
    return done


def waiter(device: str) -> Callable[[], None] | None:
    """What to call after a step so the timer stops only when the device has finished it.

    On GPU, kernels run asynchronously: `sync_devices()` (TF 2.12+, eager only) waits for every
    device. On CPU, eager ops have finished when they return, so nothing is added to the timer.
    """
    if not device.startswith("GPU"):
        return None
    import tensorflow as tf

    return tf.test.experimental.sync_devices


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
    """Name and compute capability of each physical GPU (empty list on a CPU-only machine)."""
    import tensorflow as tf

    details = []
    for gpu in tf.config.list_physical_devices("GPU"):
        info = tf.config.experimental.get_device_details(gpu)
        capability = info.get("compute_capability")
        details.append({
            "device": gpu.name,
            "name": info.get("device_name", "unknown"),
            "compute_capability": ".".join(map(str, capability)) if capability else None,
        })
    return details
