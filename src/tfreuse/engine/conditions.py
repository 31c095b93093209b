"""Controlled conditions: what is fixed before the run and before every case, and its record.

One place for the settings that change what a step costs: TensorFlow's thread pools (set from
`TFREUSE_INTRA_OP_THREADS` / `TFREUSE_INTER_OP_THREADS` before TensorFlow starts; by default one
intra-op thread fewer than the process has cores, see `default_intra_op_threads`), the
garbage-collection policy around each case, and the seeds. `describe()` writes them into every
run's machine_info; oneDNN, allocator and other environment settings are recorded beside them,
once, by `machine.tensorflow_info` (`RECORDED_ENV`).
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator

from tfreuse.core.errors import UserInputError

THREAD_ENV = {"intra_op": "TFREUSE_INTRA_OP_THREADS", "inter_op": "TFREUSE_INTER_OP_THREADS"}

GC_POLICY = ("enabled while timing (collecting the garbage a variant makes is part of its cost); "
             "before each case the heap is collected and its survivors frozen (gc.freeze), so "
             "collections inside the timer only walk what the case itself created")


INTRA_OP_DEFAULT_NOTE = "default: one fewer than the cores this process may use, at least 1"


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, else every logical core."""
    import psutil

    return len(cpu_affinity() or ()) or psutil.cpu_count() or 1


def default_intra_op_threads() -> int:
    """One core left to the Python thread that drives the steps.

    The variants' costs are mostly Python-side (tracing, building layers, creating variables) and
    run on the main thread, while `shared`'s are mostly ops on the intra-op pool. With a pool as
    large as the machine the two compete for the same cores, and a step's time jumps between two
    levels for seconds at a time (docs/methodology.md, "Controlled conditions").
    TFREUSE_INTRA_OP_THREADS=0 gives TensorFlow's own choice.
    """
    return max(1, usable_cores() - 1)


def thread_settings() -> dict[str, int]:
    """The thread counts to set, by pool: the environment's, else the intra-op default.

    UserInputError when a value is not a count; 0 leaves the pool to TensorFlow's own choice.
    """
    settings = {"intra_op": default_intra_op_threads()}
    for pool, variable in THREAD_ENV.items():
        raw = os.environ.get(variable, "").strip()
        if not raw:
            continue
        if not raw.isdigit():
            raise UserInputError(f"{variable}={raw!r} is not a thread count (a whole number; 0 = TensorFlow's choice)")
        settings[pool] = int(raw)
    return settings


class ThreadSettingsNotApplied(UserWarning):
    """TensorFlow had started before tfreuse could set its thread pools; the run uses them as they are."""


_STARTED = "cannot be modified after initialization"


def apply_thread_settings() -> dict[str, tuple[int, int]]:
    """Set TensorFlow's thread pools from the environment; best before TensorFlow initializes.

    Once any tensor exists (a user's test module or conftest making one at import time, a factory
    checked before the run) the pools can no longer change: they are then used as they are, one
    ThreadSettingsNotApplied warning names each setting left unapplied, and `describe()` records
    the counts in use. Returns {pool: (wanted, in use)} for those settings ({} when all applied).
    """
    import warnings

    import tensorflow as tf

    threading = tf.config.threading
    pools = {
        "intra_op": (threading.set_intra_op_parallelism_threads, threading.get_intra_op_parallelism_threads),
        "inter_op": (threading.set_inter_op_parallelism_threads, threading.get_inter_op_parallelism_threads),
    }
    unapplied = {}
    for pool, count in thread_settings().items():
        set_count, get_count = pools[pool]
        try:
            set_count(count)
        except RuntimeError as exc:
            if _STARTED not in str(exc):
                raise
            if get_count() != count:
                unapplied[pool] = (count, get_count())
    if unapplied:
        warnings.warn(ThreadSettingsNotApplied(
            "TensorFlow was initialized before tfreuse could set its thread pools (a tensor made at "
            "import time?); running with the pools as they are: " + _unapplied_text(unapplied)), stacklevel=2)
    return unapplied


def _unapplied_text(unapplied: dict[str, tuple[int, int]]) -> str:
    return "; ".join(f"{pool}_threads wanted {wanted}, in use {used}"
                     + (" (TensorFlow's default)" if not used else "")
                     for pool, (wanted, used) in unapplied.items())


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


@contextlib.contextmanager
def deterministic_ops() -> Iterator[bool]:
    """TensorFlow's op determinism on inside the block, as it was after; yields True.

    It is one process-wide flag, read as kernels run (GPU reductions, cuDNN algorithm choice):
    on for the learning runs so their losses repeat between GPU runs, off again before any
    timed step, where it would slow the kernels measured. `disable_op_determinism` and
    `is_op_determinism_enabled` are not exported (TF 2.9-2.21 keep them in
    `tensorflow.python.framework.config`). Left on when it was already (e.g. TF_DETERMINISTIC_OPS=1).
    A choice a kernel caches per shape (cuDNN convolution autotuning) may outlive the block; no
    tfreuse scenario has a convolution.
    """
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    was_enabled = tf_config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    try:
        yield True
    finally:
        if not was_enabled:
            tf_config.disable_op_determinism()


def describe(seed: int) -> dict:
    """The conditions in force, as recorded in machine_info."""
    import tensorflow as tf

    threading = tf.config.threading
    in_use = {"intra_op": threading.get_intra_op_parallelism_threads(),
              "inter_op": threading.get_inter_op_parallelism_threads()}
    unapplied = {pool: (wanted, in_use[pool]) for pool, wanted in thread_settings().items()
                 if in_use[pool] != wanted}
    return {
        "gc_during_timing": GC_POLICY,
        "intra_op_threads": in_use["intra_op"],
        "inter_op_threads": in_use["inter_op"],
        "threads_not_applied": _unapplied_text(unapplied) if unapplied else None,
        "intra_op_threads_source": (THREAD_ENV["intra_op"] if os.environ.get(THREAD_ENV["intra_op"], "").strip()
                                    else INTRA_OP_DEFAULT_NOTE),
        "threads_note": "0 means TensorFlow's default (one thread per core)",
        "seed": seed,
        "cpu_affinity": cpu_affinity(),
    }


def cpu_affinity() -> list[int] | None:
    """The cores this process may run on (one when `tfreuse bench` pinned it), None where the
    system cannot say (macOS)."""
    import psutil

    try:
        return sorted(psutil.Process().cpu_affinity())
    except (AttributeError, NotImplementedError, psutil.Error):
        return None
