import gc

import pytest

from tfreuse.core.errors import UserInputError
from tfreuse.engine import conditions


def test_thread_counts_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("TFREUSE_INTRA_OP_THREADS", "2")
    monkeypatch.delenv("TFREUSE_INTER_OP_THREADS", raising=False)
    assert conditions.thread_settings() == {"intra_op": 2}
    monkeypatch.setenv("TFREUSE_INTER_OP_THREADS", "0")
    assert conditions.thread_settings() == {"intra_op": 2, "inter_op": 0}


@pytest.mark.parametrize(("cores", "intra_op"), [(1, 1), (2, 1), (8, 7)])
def test_by_default_one_core_is_left_to_the_python_thread(monkeypatch, cores, intra_op):
    monkeypatch.delenv("TFREUSE_INTRA_OP_THREADS", raising=False)
    monkeypatch.delenv("TFREUSE_INTER_OP_THREADS", raising=False)
    monkeypatch.setattr(conditions, "usable_cores", lambda: cores)
    assert conditions.thread_settings() == {"intra_op": intra_op}


def test_usable_cores_are_the_process_affinity_else_every_core(monkeypatch):
    import os

    import psutil

    if hasattr(os, "sched_getaffinity"):
        assert conditions.usable_cores() == len(os.sched_getaffinity(0))
    monkeypatch.setattr(psutil, "Process", lambda: object())  # macOS: no cpu_affinity
    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: 6)
    assert conditions.usable_cores() == 6


def test_a_thread_count_that_is_not_a_number_is_named(monkeypatch):
    monkeypatch.setenv("TFREUSE_INTER_OP_THREADS", "two")
    with pytest.raises(UserInputError, match="TFREUSE_INTER_OP_THREADS='two' is not a thread count"):
        conditions.thread_settings()


def test_pools_fixed_before_tfreuse_are_used_as_they_are_with_one_warning(monkeypatch):
    import tensorflow as tf

    tf.constant(1.0)  # TensorFlow is initialized: its pools can no longer change
    in_use = tf.config.threading.get_intra_op_parallelism_threads()
    monkeypatch.setenv("TFREUSE_INTRA_OP_THREADS", str(in_use + 3))
    monkeypatch.delenv("TFREUSE_INTER_OP_THREADS", raising=False)
    with pytest.warns(conditions.ThreadSettingsNotApplied) as caught:
        unapplied = conditions.apply_thread_settings()
    assert unapplied == {"intra_op": (in_use + 3, in_use)}
    assert len(caught) == 1 and f"intra_op_threads wanted {in_use + 3}, in use {in_use}" in str(caught[0].message)
    described = conditions.describe(seed=3)
    assert described["intra_op_threads"] == in_use
    assert described["threads_not_applied"].startswith(f"intra_op_threads wanted {in_use + 3}, in use {in_use}")
    monkeypatch.setenv("TFREUSE_INTRA_OP_THREADS", str(in_use))
    assert conditions.apply_thread_settings() == {}  # what is in use is what was asked for: no warning
    assert conditions.describe(seed=3)["threads_not_applied"] is None


def test_prepare_case_freezes_the_survivors_and_seeds():
    import numpy as np

    gc.unfreeze()
    conditions.prepare_case(7)
    assert gc.get_freeze_count() > 0
    first = np.random.rand()
    conditions.prepare_case(7)
    assert np.random.rand() == first


def test_described_conditions_name_policy_threads_and_seed(monkeypatch):
    described = conditions.describe(seed=3)
    assert described["seed"] == 3
    assert "gc.freeze" in described["gc_during_timing"]
    assert isinstance(described["intra_op_threads"], int)
    monkeypatch.delenv("TFREUSE_INTRA_OP_THREADS", raising=False)
    assert conditions.describe(seed=3)["intra_op_threads_source"] == conditions.INTRA_OP_DEFAULT_NOTE
    monkeypatch.setenv("TFREUSE_INTRA_OP_THREADS", "1")
    assert conditions.describe(seed=3)["intra_op_threads_source"] == "TFREUSE_INTRA_OP_THREADS"


def test_op_determinism_is_on_inside_the_block_and_off_again_after():
    from tensorflow.python.framework import config as tf_config

    assert not tf_config.is_op_determinism_enabled()
    with conditions.deterministic_ops() as deterministic:
        assert deterministic is True and tf_config.is_op_determinism_enabled()
    assert not tf_config.is_op_determinism_enabled()


def test_op_determinism_already_on_is_left_on():
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    tf.config.experimental.enable_op_determinism()
    try:
        with conditions.deterministic_ops():
            pass
        assert tf_config.is_op_determinism_enabled()
    finally:
        tf_config.disable_op_determinism()


def test_environment_settings_are_recorded_once_as_set(monkeypatch):
    from tfreuse.core.machine import tensorflow_info

    monkeypatch.setenv("TF_CPU_ALLOCATOR_USE_BFC", "1")
    monkeypatch.delenv("TF_XLA_FLAGS", raising=False)
    env = tensorflow_info()["env"]
    assert env["TF_CPU_ALLOCATOR_USE_BFC"] == "1" and env["TF_XLA_FLAGS"] is None
    assert "cpu_allocator_bfc" not in conditions.describe(seed=3)
