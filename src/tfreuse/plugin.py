"""pytest plugin: options, device parametrization, the profile fixture and machine identity."""

from __future__ import annotations

import pytest

from tfreuse import devices
from tfreuse.profiles import Profile, resolve_profile

_PROFILE = pytest.StashKey[Profile]()
_DEVICES = pytest.StashKey[list]()
_USED = pytest.StashKey[bool]()

_OPTIONS = {
    "devices": "Devices to run on: all (default), cpu, gpu, or names such as CPU:0,GPU:1. "
               "A requested device TensorFlow does not see is skipped with a reason.",
    "profile": "Run lengths: smoke, quick or full (default: $TFREUSE_PROFILE, else full).",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tfreuse", "tfreuse: cost of re-creating TensorFlow variables")
    for name, help_text in _OPTIONS.items():
        long_name = f"--tfreuse-{name}"
        try:
            group.addoption(long_name, f"--{name}", dest=f"tfreuse_{name}", help=help_text)
        except ValueError:  # another plugin owns the short name; keep the prefixed one
            group.addoption(long_name, dest=f"tfreuse_{name}", help=help_text)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tfreuse: a tfreuse benchmark case")
    try:
        config.stash[_PROFILE] = resolve_profile(config.getoption("tfreuse_profile"))
        if config.getoption("tfreuse_devices"):
            devices.select_devices(config.getoption("tfreuse_devices"), [])
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def _device_choices(config: pytest.Config) -> list[devices.DeviceChoice]:
    if _DEVICES not in config.stash:
        config.stash[_DEVICES] = devices.select_devices(
            config.getoption("tfreuse_devices"), devices.visible_devices()
        )
    return config.stash[_DEVICES]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    scenario = getattr(metafunc.function, "tfreuse_scenario", None)
    if scenario is None or "tfreuse_case" not in metafunc.fixturenames:
        return
    metafunc.config.stash[_USED] = True
    choices = {choice.name: choice for choice in _device_choices(metafunc.config)}
    params = []
    all_sizes = metafunc.config.stash[_PROFILE].all_sizes
    for case in scenario.cases(list(choices), all_sizes):
        reason = choices[case.device].skip_reason or scenario.skip_reason(case.variant, case.mode)
        marks = [pytest.mark.tfreuse] + ([pytest.mark.skip(reason=reason)] if reason else [])
        params.append(pytest.param(case, id=case.id, marks=marks))
    metafunc.parametrize("tfreuse_case", params)


@pytest.fixture
def tfreuse_profile(request: pytest.FixtureRequest) -> Profile:
    """The profile chosen for this run (rounds, warm-up, memory steps)."""
    return request.config.stash[_PROFILE]


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Add TensorFlow, CPU/GPU identity, settings and the machine label (only for tfreuse runs)."""
    if not config.stash.get(_USED, False):
        return
    from tfreuse.machine import tensorflow_info

    info = tensorflow_info(machine_info.get("cpu"))
    info["profile"] = config.stash[_PROFILE].as_dict()
    machine_info["tfreuse"] = info
