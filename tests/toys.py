"""A two-variant toy benchmark module, written into temporary suites by the plugin and selfcheck tests."""

TOY_BENCHMARK = '''
import tensorflow as tf
from tfreuse.engine.harness import Scenario, benchmark_test

class Tiny(Scenario):
    name = "tiny"
    variants = ("shared", "reinstantiated")
    sizes = {"one": {"n": 2}}
    skips = {("reinstantiated", "eager"): "not interesting here"}

    def shared(self, ctx):
        x = tf.ones((ctx.params["n"],))
        f = ctx.compile(lambda t: t + 1)
        return lambda: f(x)

    def reinstantiated(self, ctx):
        f = ctx.compile(lambda v: v + 1)
        return lambda: f(tf.Variable(1.0))

test_tiny = benchmark_test(Tiny())
'''

# The toy's cases on one device that runs: (variant, mode) run, and those skipped by the scenario.
TOY_RUNS = (("shared", "eager"), ("shared", "function"), ("reinstantiated", "function"))
TOY_SKIPS = (("reinstantiated", "eager"),)


def toy_expectations(requested: list[str], visible: list[str]) -> dict:
    """What a toy run asking for `requested` devices must show on a host that sees `visible`."""
    present = [name for name in requested if name in visible]
    absent = [name for name in requested if name not in visible]
    return {
        "passed": len(TOY_RUNS) * len(present),
        "skipped": (len(TOY_RUNS) + len(TOY_SKIPS)) * len(absent) + len(TOY_SKIPS) * len(present),
        "names": sorted(f"test_tiny[{v}-{m}-{name}-one]" for name in present for v, m in TOY_RUNS),
        "present": present,
        "absent": absent,
    }


def with_fake_gpu(visible: list[str]) -> list[str]:
    """The host's devices plus one GPU more than it has (GPU:0 on a CPU-only host)."""
    gpus = [name for name in visible if name.startswith("GPU")]
    return [*visible, f"GPU:{len(gpus)}"]


# conftest.py of a suite run as on a host with one GPU more than this one: the plugin lists it
# (TensorFlow soft-places its ops on the CPU), says its memory growth is off, and every GPU
# warm-up and case start is logged to events.log, in order.
FAKE_GPU_CONFTEST = '''
import pathlib

from tfreuse.core import devices
from tfreuse.engine import harness

{source}

_host_visible = devices.visible_devices  # called only when the plugin lists devices: after its thread settings
_events = pathlib.Path(__file__).with_name("events.log")


def _log(event):
    with _events.open("a") as log:
        log.write(event + "\\n")


def _memory_growth(*args, _real=devices.memory_growth, **kwargs):
    return {{**_real(*args, **kwargs), with_fake_gpu(_host_visible())[-1]: False}}


def _warm_up(device, _real=devices.warm_up):
    _log("warm " + device)
    return _real(device)


def _run_case(benchmark, scenario, case, session, _real=harness.run_case):
    _log("case " + case.id)
    return _real(benchmark, scenario, case, session)


devices.visible_devices = lambda: with_fake_gpu(_host_visible())
devices.memory_growth = _memory_growth
devices.warm_up = _warm_up
harness.run_case = _run_case
'''


def fake_gpu_conftest() -> str:
    """FAKE_GPU_CONFTEST with `with_fake_gpu` in it: the same listing as the tests expect."""
    import inspect

    return FAKE_GPU_CONFTEST.format(source=inspect.getsource(with_fake_gpu))
