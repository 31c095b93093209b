from types import SimpleNamespace

import pytest
import tensorflow as tf
from tensorflow.python.eager import context

from tfreuse.core import devices
from tfreuse.core.devices import DeviceChoice, select_devices


@pytest.mark.parametrize("raw, name", [
    ("CPU:0", "CPU:0"), ("gpu:1", "GPU:1"), ("/device:GPU:0", "GPU:0"), (" cpu:00 ", "CPU:0"),
])
def test_normalize(raw, name):
    assert devices.normalize(raw) == name


@pytest.mark.parametrize("raw", ["TPU:0", "GPU", "CPU:x", ""])
def test_normalize_refuses_other_names(raw):
    with pytest.raises(ValueError, match="is not a device name"):
        devices.normalize(raw)


def test_all_is_every_visible_device():
    assert select_devices(None, ["/device:CPU:0", "/device:GPU:0"]) == [
        DeviceChoice("CPU:0"), DeviceChoice("GPU:0")]
    assert select_devices("all", ["CPU:0"]) == [DeviceChoice("CPU:0")]


def test_absent_gpu_is_kept_as_a_skip_with_reason():
    chosen = select_devices("CPU:0,GPU:0", ["CPU:0"])
    assert chosen[0] == DeviceChoice("CPU:0")
    assert chosen[1].name == "GPU:0"
    assert chosen[1].skip_reason == "GPU:0 requested but TensorFlow sees only CPU:0"


def test_gpu_keyword_without_gpu_is_a_skip():
    (choice,) = select_devices("gpu", ["CPU:0"])
    assert choice.skip_reason.startswith("no GPU visible to TensorFlow")


def test_gpu_keyword_picks_every_gpu_and_duplicates_collapse():
    chosen = select_devices("gpu,GPU:1", ["CPU:0", "GPU:0", "GPU:1"])
    assert [c.name for c in chosen] == ["GPU:0", "GPU:1"]
    assert all(c.skip_reason is None and devices.is_gpu(c.name) for c in chosen)


@pytest.mark.parametrize("name, gpu", [("GPU:0", True), ("/device:gpu:1", True), ("CPU:0", False),
                                       ("/physical_device:GPU:2", True), ("TPU:0", False)])
def test_one_gpu_test_for_every_use(name, gpu):
    assert devices.is_gpu(name) is gpu


def test_memory_growth_is_set_for_each_gpu_and_refusals_are_tolerated():
    calls = []

    def set_growth(gpu, enabled):
        if gpu == "late":
            raise RuntimeError("Physical devices cannot be modified after being initialized")
        if gpu == "virtual":
            raise ValueError("Cannot set memory growth on device when virtual devices configured")
        calls.append((gpu, enabled))

    assert devices.enable_gpu_memory_growth(["gpu0", "late", "virtual", "gpu1"], set_growth) == 2
    assert calls == [("gpu0", True), ("gpu1", True)]


GPUS = [SimpleNamespace(name="/physical_device:GPU:0"), SimpleNamespace(name="/physical_device:GPU:1")]


@pytest.mark.parametrize("environ, expected", [
    ({}, {"GPU:0": True, "GPU:1": False}),  # as set_memory_growth left them
    ({"TF_FORCE_GPU_ALLOW_GROWTH": "true"}, {"GPU:0": True, "GPU:1": True}),
    ({"TF_FORCE_GPU_ALLOW_GROWTH": "false"}, {"GPU:0": False, "GPU:1": False}),
    ({"TF_FORCE_GPU_ALLOW_GROWTH": "yes"}, {"GPU:0": True, "GPU:1": False}),  # TF ignores it too
])
def test_memory_growth_is_read_per_gpu_with_the_environment_deciding(environ, expected):
    growth = {GPUS[0].name: True, GPUS[1].name: False}
    assert devices.memory_growth(GPUS, lambda gpu: growth[gpu.name], environ) == expected


def test_memory_growth_on_this_host_lists_its_physical_gpus():
    assert set(devices.memory_growth()) == {devices.normalize(g.name)
                                           for g in tf.config.list_physical_devices("GPU")}


def test_a_selected_gpu_without_growth_is_warned_about_once():
    with pytest.warns(devices.GpuMemoryWarning) as caught:
        text = devices.warn_without_growth({"GPU:0": True, "GPU:1": False}, ["CPU:0", "GPU:0", "GPU:1"])
    assert len(caught) == 1
    assert text.startswith("memory growth is off on GPU:1 (TensorFlow initialised its GPUs")
    assert "TF_FORCE_GPU_ALLOW_GROWTH=true" in text


def test_no_warning_when_every_selected_gpu_grows(recwarn):
    assert devices.warn_without_growth({"GPU:0": True, "GPU:1": False}, ["CPU:0", "GPU:0"]) is None
    assert devices.warn_without_growth({}, ["CPU:0"]) is None
    assert not recwarn.list


def test_children_ask_for_memory_growth_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv("TF_FORCE_GPU_ALLOW_GROWTH", raising=False)
    monkeypatch.setenv("TFREUSE_SOMETHING", "kept")
    env = devices.child_environment({"EXTRA": "1"})
    assert (env["TF_FORCE_GPU_ALLOW_GROWTH"], env["TFREUSE_SOMETHING"], env["EXTRA"]) == ("true", "kept", "1")
    monkeypatch.setenv("TF_FORCE_GPU_ALLOW_GROWTH", "false")
    assert devices.child_environment()["TF_FORCE_GPU_ALLOW_GROWTH"] == "false"


@pytest.fixture
def device_log(monkeypatch):
    """Fakes TensorFlow's SyncDevice and async_wait, logging the device scope each runs in."""
    log = []
    monkeypatch.setattr(tf.raw_ops, "SyncDevice",
                        lambda name=None: log.append(("SyncDevice", context.context().device_name)))
    monkeypatch.setattr(context, "async_wait", lambda: log.append(("async_wait", None)))

    def refuse():
        raise AssertionError("sync_devices() waits for every device")

    monkeypatch.setattr(tf.test.experimental, "sync_devices", refuse)
    return log


def test_cpu_steps_get_no_wait(device_log):
    assert devices.waiter("CPU:0") is None
    assert devices.wait_cost("CPU:0") == 0.0
    assert device_log == []


def test_a_gpu_step_waits_for_its_own_device_only(device_log):
    wait = devices.waiter("gpu:1")
    wait()
    assert device_log == [("SyncDevice", "/job:localhost/replica:0/task:0/device:GPU:1"),
                          ("async_wait", None)]


def test_wait_cost_times_the_wait_on_an_idle_device(device_log, monkeypatch):
    import time

    def slow_async_wait():  # a wait that takes at least 2 ms
        device_log.append(("async_wait", None))
        time.sleep(0.002)

    monkeypatch.setattr(context, "async_wait", slow_async_wait)
    seconds = devices.wait_cost("GPU:0", repeats=7)
    assert isinstance(seconds, float) and seconds >= 0.002
    assert device_log.count(("SyncDevice", "/job:localhost/replica:0/task:0/device:GPU:0")) == 1 + 7


def test_warm_up_runs_a_matmul_and_a_convolution_on_the_device_then_waits(device_log, monkeypatch):
    import time

    for module, name in ((tf.linalg, "matmul"), (tf.nn, "conv2d")):
        original = getattr(module, name)

        def logged(*args, _name=name, _original=original, **kwargs):
            device_log.append((_name, context.context().device_name))
            time.sleep(0.002)  # each op takes at least 2 ms: the warm-up time must include them
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, logged)
    result = devices.warm_up("GPU:1")
    gpu = "/job:localhost/replica:0/task:0/device:GPU:1"
    assert device_log == [("matmul", gpu), ("conv2d", gpu), ("SyncDevice", gpu), ("async_wait", None)]
    assert result["warm_up_s"] >= 0.004 and result["placed_on"]  # CPU:0 here: TensorFlow soft-places


def test_warm_up_on_cpu_runs_there_without_a_wait(device_log):
    assert devices.warm_up("CPU:0")["placed_on"] == ["CPU:0"]
    assert device_log == []


_ALLOCATOR_READINGS = """
import json
import tensorflow as tf
from tfreuse.core import devices
before = devices.allocator_stats("CPU:0")
tensor = tf.ones((256, 1024))  # 1 MiB
during = devices.allocator_stats("CPU:0")
del tensor
devices.reset_allocator_peak("CPU:0")
print(json.dumps([before, during, devices.allocator_stats("CPU:0")]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("settings, available", [
    ({"TF_CPU_ALLOCATOR_USE_BFC": "1"}, True),
    # TensorFlow raises ValueError for CPU:0 without both (FACTS.md): read as None, never raised.
    ({"TF_CPU_ALLOCATOR_USE_BFC": "0", "TF_ENABLE_ONEDNN_OPTS": "0"}, False),
])
def test_allocator_stats_follow_the_tensors_or_are_none_where_tensorflow_has_none(settings, available):
    import json
    import os
    import subprocess
    import sys

    environment = {**os.environ, **settings, "TF_CPP_MIN_LOG_LEVEL": "3"}
    completed = subprocess.run([sys.executable, "-c", _ALLOCATOR_READINGS], env=environment,
                               capture_output=True, text=True, check=True)
    before, during, after = json.loads(completed.stdout.strip().splitlines()[-1])
    if not available:
        assert before is during is after is None
        return
    assert set(before) == {"current", "peak"}
    assert during["current"] - before["current"] >= 1 << 20
    assert after["peak"] == after["current"] < during["peak"]  # the peak was reset


def test_visible_devices_include_the_cpu():
    assert "CPU:0" in devices.visible_devices()


def test_gpu_details_record_memory_growth_per_gpu():
    details = devices.gpu_details()
    assert [d["device"] for d in details] == [g.name for g in tf.config.list_physical_devices("GPU")]
    assert all(isinstance(d["memory_growth"], bool) for d in details)
