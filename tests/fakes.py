"""Test doubles shared by the unit tests."""

from __future__ import annotations

from types import SimpleNamespace

from pytest_benchmark.stats import Stats

from tfreuse.core.profiles import Profile

# Four timed rounds and one warm-up step: enough for the exact figures the scenario tests assert.
SCENARIO_PROFILE = Profile("test", rounds=4, min_rounds=4, warmup_steps=1, phase_seconds=60)


class FakeBenchmark:
    """Stands in for pytest-benchmark's fixture: runs `pedantic` targets and keeps extra_info.

    With `durations` (an iterable of seconds) it also records them as its rounds' timings, in
    pytest-benchmark's own `Stats` where pytest-benchmark keeps them; and, as pytest-benchmark
    does, it marks itself failed (`has_error`) when setup, target or teardown raises.
    """

    def __init__(self, durations=None):
        self.extra_info: dict = {}
        self.group = None
        self.calls = 0
        self.has_error = False
        self._durations = iter(durations) if durations is not None else None

    def pedantic(self, target, args=(), kwargs=None, setup=None, teardown=None, rounds=1,
                 iterations=1, warmup_rounds=0):
        if self._durations is not None:
            self.stats = SimpleNamespace(stats=Stats())
        try:
            for round_number in range(warmup_rounds + rounds):
                if setup is not None:
                    setup()
                for _ in range(iterations):
                    self.calls += 1
                    result = target(*args, **(kwargs or {}))
                if self._durations is not None and round_number >= warmup_rounds:
                    self.stats.stats.update(next(self._durations))
                if teardown is not None:
                    teardown(*args, **(kwargs or {}))
        except Exception:
            self.has_error = True
            raise
        return result


def capture_child_environment(monkeypatch, module, returncode: int = 0, stdout: str = "") -> dict:
    """Replace `module.subprocess.run` with a fake that records the child's environment.

    Clears `TF_FORCE_GPU_ALLOW_GROWTH` first, so a test sees what the launcher itself sets.
    Returns the dict the environment is recorded into.
    """
    seen: dict = {}

    def fake_run(command, env, **kwargs):
        seen.update(env)
        return SimpleNamespace(returncode=returncode, stdout=stdout)

    monkeypatch.delenv("TF_FORCE_GPU_ALLOW_GROWTH", raising=False)
    monkeypatch.setattr(module.subprocess, "run", fake_run)
    return seen


def run_scenario(scenario, variant: str, mode: str, size: str | None = None) -> dict:
    """One case of `scenario` measured by the harness with a fake timer in SCENARIO_PROFILE; its record."""
    from tfreuse.engine.harness import Case, run_case
    from tfreuse.engine.session import Session

    case = Case(scenario.name, variant, mode, "CPU:0", size or next(iter(scenario.sizes)))
    return run_case(FakeBenchmark(), scenario, case, Session(SCENARIO_PROFILE))
