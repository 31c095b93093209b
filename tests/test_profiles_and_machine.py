import pytest

from tfreuse.core.machine import machine_label
from tfreuse.core.profiles import PROFILES, resolve_profile


def test_profile_from_option_then_env_then_default(monkeypatch):
    monkeypatch.setenv("TFREUSE_PROFILE", "quick")
    assert resolve_profile("smoke") is PROFILES["smoke"]
    assert resolve_profile(None) is PROFILES["quick"]
    monkeypatch.delenv("TFREUSE_PROFILE")
    assert resolve_profile(None) is PROFILES["full"]


def test_unknown_profile_is_named():
    with pytest.raises(ValueError, match="unknown tfreuse profile 'huge'; choose one of: smoke"):
        resolve_profile("huge")


def test_profiles_grow_from_smoke_to_full():
    smoke, quick, full = PROFILES["smoke"], PROFILES["quick"], PROFILES["full"]
    assert smoke.rounds < quick.rounds <= full.rounds
    assert smoke.min_rounds < quick.min_rounds <= full.min_rounds
    assert smoke.overhead_steps < quick.overhead_steps <= full.overhead_steps
    assert not smoke.all_sizes and not quick.all_sizes and full.all_sizes
    assert quick.warmup_steps < full.warmup_steps


def test_label_is_readable_and_stable():
    label = machine_label("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "x86_64", 2, [])
    assert label.startswith("intel-xeon-platinum-8375c-2c-")
    assert label == machine_label("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "x86_64", 2, [])


def test_label_differs_with_cpu_cores_or_gpu():
    base = machine_label("AMD EPYC 7763 64-Core Processor", "x86_64", 2, [])
    assert base != machine_label("AMD EPYC 9R14", "x86_64", 2, [])
    assert base != machine_label("AMD EPYC 7763 64-Core Processor", "x86_64", 4, [])
    with_gpu = machine_label("AMD EPYC 7763 64-Core Processor", "x86_64", 2, ["NVIDIA A100-SXM4-40GB"])
    assert "nvidia-a100" in with_gpu and with_gpu != base


def test_rounds_fit_the_time_budget_within_their_bounds():
    full = PROFILES["full"]
    assert full.rounds_within_budget(1e-6) == full.rounds
    assert full.rounds_within_budget(10.0) == full.min_rounds
    assert full.rounds_within_budget(full.phase_seconds / 20) == 20
    smoke = PROFILES["smoke"]
    assert smoke.rounds_within_budget(0.0) == smoke.rounds
