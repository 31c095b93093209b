"""Profiles: how many rounds, warm-up steps and memory-probe steps a run spends, set in one place."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

PROFILE_ENV = "TFREUSE_PROFILE"
DEFAULT_PROFILE = "full"


@dataclass(frozen=True)
class Profile:
    """Run lengths shared by every scenario.

    `rounds` timed steps go to pytest-benchmark; `warmup_steps` run before anything is measured
    so the steady state is what gets timed; `memory_steps` is the probe window over which traces,
    variables and RSS growth are counted. `all_sizes` runs every size a scenario declares;
    otherwise only its first (smallest) one.
    """

    name: str
    rounds: int
    warmup_steps: int
    memory_steps: int
    all_sizes: bool = True
    seed: int = 0

    def as_dict(self) -> dict:
        """The profile as plain data, for machine_info."""
        return asdict(self)


PROFILES: dict[str, Profile] = {
    # Every code path once: for `make test`, not for figures.
    "smoke": Profile("smoke", rounds=1, warmup_steps=1, memory_steps=3, all_sizes=False),
    "quick": Profile("quick", rounds=15, warmup_steps=3, memory_steps=20, all_sizes=False),
    "full": Profile("full", rounds=60, warmup_steps=5, memory_steps=60),
}


def resolve_profile(name: str | None) -> Profile:
    """The profile named on the command line, else by TFREUSE_PROFILE, else the default."""
    chosen = name or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    try:
        return PROFILES[chosen]
    except KeyError:
        known = ", ".join(PROFILES)
        raise ValueError(f"unknown tfreuse profile {chosen!r}; choose one of: {known}") from None
