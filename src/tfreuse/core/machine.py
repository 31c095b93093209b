"""Machine identity: what a run ran on, and a short label that lines up runs on the same hardware."""

from __future__ import annotations

import hashlib
import os
import platform
import re
from collections.abc import Mapping, Sequence
from typing import Any

import psutil

# Environment settings that change what TensorFlow measures; recorded with every run, here only
# (`machine_info.tfreuse.env`; `conditions.describe` records the thread pools and the seed).
RECORDED_ENV = (
    "TF_ENABLE_ONEDNN_OPTS",
    "TF_CPU_ALLOCATOR_USE_BFC",
    "TF_XLA_FLAGS",
    "OMP_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
    "TF_FORCE_GPU_ALLOW_GROWTH",
    "TF_DETERMINISTIC_OPS",
    "TFREUSE_PROFILE",
)

_NOISE = re.compile(
    r"\((?:r|tm)\)|\bcpu\b|\bprocessor\b|\b\d+-core\b|@.*$|\bwith\b.*$|\bgen(?:uine)?\b|\bcore\(tm\)",
    re.IGNORECASE,
)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", _NOISE.sub(" ", text).lower()).strip("-")


def machine_label(cpu_brand: str, arch: str, logical_cores: int, gpu_names: Sequence[str]) -> str:
    """A short label from the hardware alone, e.g. `xeon-platinum-8375c-2c-4f1a9c`.

    Readable part: CPU model, core count and first GPU; a 6-hex digest of all of them keeps two
    machines apart when their readable parts collide. Host and runner names are left out on
    purpose: CI runners keep their name while their CPU changes.
    """
    readable = [_slug(cpu_brand)[:28] or _slug(arch) or "cpu", f"{logical_cores}c"]
    if gpu_names:
        readable.append(_slug(gpu_names[0])[:20])
        if len(gpu_names) > 1:
            readable[-1] += f"x{len(gpu_names)}"
    identity = "|".join([cpu_brand, arch, str(logical_cores), *sorted(gpu_names)])
    digest = hashlib.sha256(identity.encode()).hexdigest()[:6]
    return "-".join(readable + [digest])


def tensorflow_info(cpu: Mapping[str, Any] | None = None) -> dict:
    """TensorFlow/Keras versions, CPU, GPUs, environment settings and the machine label.

    Thread pools are recorded once, by `conditions.describe` (with where their counts came from).
    """
    import keras
    import tensorflow as tf

    from tfreuse.core import devices

    cpu = cpu or {}
    gpus = devices.gpu_details()
    brand = cpu.get("brand_raw") or platform.processor() or platform.machine()
    logical = psutil.cpu_count(logical=True) or 0
    return {
        "label": machine_label(brand, platform.machine(), logical, [g["name"] for g in gpus]),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "cpu_brand": brand,
        "cpu_logical_cores": logical,
        "cpu_physical_cores": psutil.cpu_count(logical=False),
        "gpus": gpus,
        "env": {name: os.environ.get(name) for name in RECORDED_ENV},
    }
