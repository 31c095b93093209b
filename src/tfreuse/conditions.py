"""Controlled conditions: what is fixed before the run and before every case, and its record.

One place for the settings that change what a step costs: TensorFlow's thread pools (set from
`TFREUSE_INTRA_OP_THREADS` / `TFREUSE_INTER_OP_THREADS` before TensorFlow starts, else its own
default), the garbage-collection policy around each case, and the seeds. `describe()` writes them
into every run's machine_info, with oneDNN and allocator settings as the environment had them.
"""

from __future__ import annotations

import gc
import os

from tfreuse.errors import UserInputError

THREAD_ENV = {"intra_op": "TFREUSE_INTRA_OP_THREADS", "inter_op": "TFREUSE_INTER_OP_THREADS"}

GC_POLICY = ("enabled while timing (collecting the garbage a variant makes is part of its cost); "
             "before each case the heap is collected and its survivors frozen (gc.freeze), so "
             "collections inside the timer only walk what the case itself created")


def thread_settings() -> dict[str, int]:
    """The thread counts asked for in the environment, by pool; UserInputError when not a count."""
    settings = {}
    for pool, variable in THREAD_ENV.items():
        raw = os.environ.get(variable, "").strip()
        if not raw:
            continue
        if not raw.isdigit():
            raise UserInputError(f"{variable}={raw!r} is not a thread count (a whole number; 0 = TensorFlow's choice)")
        settings[pool] = int(raw)
    return settings


def apply_thread_settings() -> None:
    """Set TensorFlow's thread pools from the environment; call before TensorFlow initializes."""
    import tensorflow as tf

    setters = {"intra_op": tf.config.threading.set_intra_op_parallelism_threads,
               "inter_op": tf.config.threading.set_inter_op_parallelism_threads}
    for pool, count in thread_settings().items():
        setters[pool](count)


def prepare_case(seed: int) -> None:
    """Collect what earlier cases left, freeze the survivors, then seed every generator.

    With TensorFlow loaded a full gc.collect() walks ~400k objects (~0.25 s); the probes collect
    a few times per case. Frozen objects (modules, earlier survivors) are skipped, so those
    collections only walk what this case creates. `set_random_seed` seeds Python, NumPy,
    TensorFlow and Keras.
    """
    import keras

    gc.collect()
    gc.freeze()
    keras.utils.set_random_seed(seed)


def describe(seed: int) -> dict:
    """The conditions in force, as recorded in machine_info."""
    import tensorflow as tf

    threading = tf.config.threading
    return {
        "gc_during_timing": GC_POLICY,
        "intra_op_threads": threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": threading.get_inter_op_parallelism_threads(),
        "threads_note": "0 means TensorFlow's default (one thread per core)",
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "TensorFlow's default"),
        "cpu_allocator_bfc": os.environ.get("TF_CPU_ALLOCATOR_USE_BFC", "TensorFlow's default"),
        "seed": seed,
    }
