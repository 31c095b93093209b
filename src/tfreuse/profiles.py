"""Profiles: how many rounds, warm-up steps and memory-probe steps a run spends, set in one place."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

PROFILE_ENV = "TFREUSE_PROFILE"
DEFAULT_PROFILE = "full"


@dataclass(frozen=True)
class Profile:
    """Run lengths shared by every scenario.

    `warmup_steps` run before anything is measured, so the steady state is what gets measured;
    they also time the step, which sizes the two measured phases: the probe window (traces,
    variables, RSS growth) and pytest-benchmark's timed rounds each get about `phase_seconds`,
    never fewer than `min_steps` nor more than `memory_steps` / `rounds` steps. A slow variant
    (a retrace or an XLA compile per step) thus costs seconds, not minutes.
    `all_sizes` runs every size a scenario declares; otherwise only its first (smallest) one.
    """

    name: str
    rounds: int
    warmup_steps: int
    memory_steps: int
    min_steps: int
    phase_seconds: float
    all_sizes: bool = True
    seed: int = 0

    def steps_within_budget(self, step_seconds: float, most: int) -> int:
        """How many steps of `step_seconds` fit `phase_seconds`, within [min_steps, most]."""
        fitting = int(self.phase_seconds / step_seconds) if step_seconds > 0 else most
        return max(min(self.min_steps, most), min(most, fitting))

    def as_dict(self) -> dict:
        """The profile as plain data, for machine_info."""
        return asdict(self)


PROFILES: dict[str, Profile] = {
    # Every code path once: for `make test`, not for figures.
    "smoke": Profile("smoke", rounds=1, warmup_steps=1, memory_steps=3, min_steps=1,
                     phase_seconds=0.2, all_sizes=False),
    "quick": Profile("quick", rounds=20, warmup_steps=2, memory_steps=20, min_steps=3,
                     phase_seconds=0.25, all_sizes=False),
    "full": Profile("full", rounds=100, warmup_steps=3, memory_steps=50, min_steps=10,
                    phase_seconds=1.0),
}


def resolve_profile(name: str | None) -> Profile:
    """The profile named on the command line, else by TFREUSE_PROFILE, else the default."""
    chosen = name or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    try:
        return PROFILES[chosen]
    except KeyError:
        known = ", ".join(PROFILES)
        raise ValueError(f"unknown tfreuse profile {chosen!r}; choose one of: {known}") from None
