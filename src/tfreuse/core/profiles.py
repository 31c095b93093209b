"""Profiles: how many rounds, warm-up steps and memory-probe steps a run spends, set in one place."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace

PROFILE_ENV = "TFREUSE_PROFILE"
DEFAULT_PROFILE = "full"


@dataclass(frozen=True)
class Profile:
    """Run lengths shared by every scenario.

    `warmup_steps` run before anything is measured, so the steady state is what gets measured;
    they also time the step, which sizes the measured phase: pytest-benchmark's timed rounds
    (the probes count traces, variables and RSS over the same rounds) get about `phase_seconds`,
    never fewer than `min_rounds` nor more than `rounds`. A slow variant (a retrace or an XLA
    compile per step) thus costs seconds, not minutes, and still gets `min_rounds` samples.
    `all_sizes` runs every size a scenario declares; otherwise only its first (smallest) one.
    `paired_shared` times the `shared` step of the same situation before each round of every
    other variant, so their ratio does not depend on the machine's drift between cases.
    `overhead_steps`: steps timed each way (bare and harnessed) by the run's overhead check.
    `seed` seeds Python, NumPy, TensorFlow and Keras before every case.
    `timing_only`: time the cases and count their traces and variables, but run no memory window,
    no learning runs and no overhead check: `tfreuse bench` runs every process after its first
    this way (the first measures those figures; they do not vary between processes).
    `memory_steps`: steps of the untimed memory window after the timed rounds, where bytes
    retained per step are read after each step; a slow step gets as many as fit
    `memory_seconds`, never fewer than `memory_min_steps`. The window's figure is a slope of
    bytes in use after a collection, steady from step to step whatever the step costs, so a few
    steps pin it (docs/methodology.md, "Retained memory, and order independence").
    """

    name: str
    rounds: int
    min_rounds: int
    warmup_steps: int
    phase_seconds: float
    all_sizes: bool = True
    paired_shared: bool = True
    overhead_steps: int = 2000
    seed: int = 0
    memory_steps: int = 12
    memory_min_steps: int = 5
    memory_seconds: float = 0.5
    timing_only: bool = False
    instructions: bool = False

    def rounds_within_budget(self, step_seconds: float) -> int:
        """How many rounds of `step_seconds` fit `phase_seconds`, within [min_rounds, rounds]."""
        fitting = int(self.phase_seconds / step_seconds) if step_seconds > 0 else self.rounds
        return max(min(self.min_rounds, self.rounds), min(self.rounds, fitting))

    def memory_window_steps(self, step_seconds: float) -> int:
        """Steps of the memory window: as many as fit `memory_seconds`, within [memory_min_steps,
        memory_steps]."""
        fitting = int(self.memory_seconds / step_seconds) if step_seconds > 0 else self.memory_steps
        return max(min(self.memory_min_steps, self.memory_steps), min(self.memory_steps, fitting))

    def as_dict(self) -> dict:
        """The profile as plain data, for machine_info."""
        return asdict(self)


PROFILES: dict[str, Profile] = {
    # Every code path once: for `make test`, not for figures.
    "smoke": Profile("smoke", rounds=3, min_rounds=1, warmup_steps=1, phase_seconds=0.2,
                     all_sizes=False, overhead_steps=200, memory_steps=4, memory_min_steps=3),
    "quick": Profile("quick", rounds=30, min_rounds=5, warmup_steps=1, phase_seconds=0.1,
                     all_sizes=False, overhead_steps=600),
    # One process of `make bench`'s K: every size; rounds are few, since the spread that counts is
    # between processes (docs/methodology.md, "Intervals").
    "full": Profile("full", rounds=30, min_rounds=5, warmup_steps=2, phase_seconds=0.1,
                    overhead_steps=600),
}


def counting_instructions(profile: Profile) -> Profile:
    """`profile` for a process that counts instructions under valgrind: the first size (or every
    one) as `profile` says, a few warm-up steps, one timed round (so the case has its row; its time
    is valgrind's, not the machine's), nothing else measured and no paired reference."""
    return replace(profile, instructions=True, timing_only=True, paired_shared=False, rounds=1,
                   min_rounds=1, warmup_steps=max(2, profile.warmup_steps))


def resolve_profile(name: str | None) -> Profile:
    """The profile named on the command line, else by TFREUSE_PROFILE, else the default."""
    chosen = name or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    try:
        return PROFILES[chosen]
    except KeyError:
        known = ", ".join(PROFILES)
        raise ValueError(f"unknown tfreuse profile {chosen!r}; choose one of: {known}") from None
