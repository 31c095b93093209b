import pytest

from tfreuse import devices
from tfreuse.devices import DeviceChoice, select_devices


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
    assert all(c.skip_reason is None and c.is_gpu for c in chosen)


def test_memory_growth_is_set_for_each_gpu_and_late_ones_are_tolerated():
    calls = []

    def set_growth(gpu, enabled):
        if gpu == "late":
            raise RuntimeError("Physical devices cannot be modified after being initialized")
        calls.append((gpu, enabled))

    assert devices.enable_gpu_memory_growth(["gpu0", "late", "gpu1"], set_growth) == 2
    assert calls == [("gpu0", True), ("gpu1", True)]


def test_cpu_steps_get_no_wait_and_gpu_steps_wait_for_the_device():
    import tensorflow as tf

    assert devices.waiter("CPU:0") is None
    assert devices.waiter("GPU:0") is tf.test.experimental.sync_devices


def test_allocator_stats_are_a_dict_or_none():
    stats = devices.allocator_stats("CPU:0")
    assert stats is None or set(stats) == {"current", "peak"}
    devices.reset_allocator_peak("CPU:0")  # never raises


def test_visible_devices_include_the_cpu():
    assert "CPU:0" in devices.visible_devices()
