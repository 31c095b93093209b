"""pytest plugin: options, case parametrization, the `reuse_benchmark` fixture, machine identity.

Registered for every pytest run through the `pytest11` entry point, so it stays inert for suites
that do not use it: its options are prefixed (`--tfreuse-...`), TensorFlow is imported only once
a tfreuse benchmark is collected, and machine info is added only to runs that had one.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from tfreuse import devices
from tfreuse.harness import MODES, Case
from tfreuse.profiles import Profile, resolve_profile

_PROFILE = pytest.StashKey[Profile]()
_DEVICES = pytest.StashKey[list]()
_USED = pytest.StashKey[bool]()

DEFAULT_MODES = "eager,function"
USER_SIZE = "default"

_OPTIONS = {
    "devices": "Devices to run on: all (default), cpu, gpu, or names such as CPU:0,GPU:1. "
               "A requested device TensorFlow does not see is skipped with a reason.",
    "profile": "Run lengths: smoke, quick or full (default: $TFREUSE_PROFILE, else full).",
    "modes": f"Modes for reuse_benchmark tests: any of {', '.join(MODES)} (default: {DEFAULT_MODES}).",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tfreuse", "tfreuse: cost of re-creating TensorFlow variables")
    for name, help_text in _OPTIONS.items():
        group.addoption(f"--tfreuse-{name}", dest=f"tfreuse_{name}", help=help_text)


def add_short_options(parser: pytest.Parser) -> None:
    """`--devices` and `--profile` as aliases, for a project (like tfreuse's own) that wants them."""
    group = parser.getgroup("tfreuse")
    for name in ("devices", "profile"):
        group.addoption(f"--{name}", dest=f"tfreuse_{name}", help=f"same as --tfreuse-{name}")


def _modes(raw: str | None) -> list[str]:
    chosen = [mode.strip() for mode in (raw or DEFAULT_MODES).split(",") if mode.strip()]
    unknown = [mode for mode in chosen if mode not in MODES]
    if unknown or not chosen:
        raise ValueError(f"--tfreuse-modes: {', '.join(unknown) or 'nothing'} is not a mode; "
                         f"choose from {', '.join(MODES)}")
    return chosen


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tfreuse: a tfreuse benchmark case")
    try:
        config.stash[_PROFILE] = resolve_profile(config.getoption("tfreuse_profile"))
        if config.getoption("tfreuse_devices"):
            devices.select_devices(config.getoption("tfreuse_devices"), [])
        _modes(config.getoption("tfreuse_modes"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def _device_choices(config: pytest.Config) -> list[devices.DeviceChoice]:
    if _DEVICES not in config.stash:
        config.stash[_DEVICES] = devices.select_devices(
            config.getoption("tfreuse_devices"), devices.visible_devices()
        )
    return config.stash[_DEVICES]


def _param(case: Case, reason: str | None):
    marks = [pytest.mark.tfreuse] + ([pytest.mark.skip(reason=reason)] if reason else [])
    return pytest.param(case, id=case.id, marks=marks)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    scenario = getattr(metafunc.function, "tfreuse_scenario", None)
    if scenario is not None and "tfreuse_case" in metafunc.fixturenames:
        metafunc.config.stash[_USED] = True
        choices = {choice.name: choice for choice in _device_choices(metafunc.config)}
        all_sizes = metafunc.config.stash[_PROFILE].all_sizes
        metafunc.parametrize("tfreuse_case", [
            _param(case, choices[case.device].skip_reason or scenario.skip_reason(case.variant, case.mode))
            for case in scenario.cases(list(choices), all_sizes)
        ])
    elif "reuse_benchmark" in metafunc.fixturenames:
        from tfreuse.scenarios.layer_reuse import REUSE_VARIANTS

        metafunc.config.stash[_USED] = True
        name = metafunc.function.__name__.removeprefix("test_")
        choices = _device_choices(metafunc.config)
        modes = _modes(metafunc.config.getoption("tfreuse_modes"))
        metafunc.parametrize("reuse_benchmark", [
            _param(Case(name, variant, mode, choice.name, USER_SIZE), choice.skip_reason)
            for mode in modes for variant in REUSE_VARIANTS for choice in choices
        ], indirect=True)


@pytest.fixture
def tfreuse_profile(request: pytest.FixtureRequest) -> Profile:
    """The profile chosen for this run (rounds, warm-up, memory steps)."""
    return request.config.stash[_PROFILE]


@pytest.fixture
def reuse_benchmark(request: pytest.FixtureRequest, benchmark: Any, tfreuse_profile: Profile) -> Callable:
    """Measure your own layer: call it with factories; get this case's extra_info record back.

    `reuse_benchmark(make_layer, make_inputs, loss=None)`: `make_layer()` returns a new Keras
    layer or model, `make_inputs()` a tensor or a tuple of them; with `loss(outputs) -> scalar`
    every step is an SGD step and learning figures are recorded. The test is parametrized over
    the variants (shared, reinstantiated, reinitialized, mitigated), modes and devices.
    """
    case: Case = request.param

    def measure(make_layer: Callable[[], Any], make_inputs: Callable[[], Any],
                loss: Callable[[Any], Any] | None = None) -> dict:
        from tfreuse.harness import run_case
        from tfreuse.scenarios.layer_reuse import LayerReuse, as_inputs

        scenario = LayerReuse(case.scenario, make_layer=lambda _size: make_layer(),
                              make_inputs=lambda _size: as_inputs(make_inputs()),
                              sizes={USER_SIZE: {}}, loss=loss)
        return run_case(benchmark, scenario, case, tfreuse_profile)

    return measure


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Add TensorFlow, CPU/GPU identity, settings and the machine label (only for tfreuse runs)."""
    if not config.stash.get(_USED, False):
        return
    from tfreuse.machine import tensorflow_info

    info = tensorflow_info(machine_info.get("cpu"))
    info["profile"] = config.stash[_PROFILE].as_dict()
    machine_info["tfreuse"] = info
