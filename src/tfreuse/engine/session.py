"""The state of one pytest run of tfreuse benchmarks, in one object.

The plugin keeps one `Session` under one stash key and hands it to the harness with each case;
no module holds run state of its own. What a case leaves for later ones lives here: the `shared`
step its variants are timed beside, and the `shared` learning runs they are compared with.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from tfreuse.core.profiles import Profile

# A scenario and a case are the harness's `Scenario` and `Case`, which use this module: they are
# typed `Any` here so the two modules do not import each other.
Scenario = Case = Any

if TYPE_CHECKING:
    from tfreuse.core.busy import BusyWatch
    from tfreuse.core.devices import DeviceChoice
    from tfreuse.engine.pairing import SharedReference


@dataclass
class Session:
    """One run's profile, devices and conditions, what its cases leave for later ones, and the
    figures its end reports (results, shared medians, harness overhead)."""

    profile: Profile
    # How busy the machine was while the run measured (started when pytest configures).
    busy: BusyWatch | None = None
    # The devices asked for, with a skip reason for each absent one; listed once, when needed.
    devices: list[DeviceChoice] | None = None
    # Whether a tfreuse benchmark was collected: machine info is added only then.
    used: bool = False
    # Each selected GPU's warm-up, by device, once before the first case.
    warmed: dict | None = None
    # (median, scenario, case) of each timed `shared` case: the cheapest one measures the overhead.
    shared_medians: list[tuple[float, Scenario, Case]] = field(default_factory=list)
    # The harness overhead, measured once when results are saved.
    overhead: dict | None = None
    # Each case as pytest-benchmark's JSON holds it, for the end-of-session table.
    results: list[dict] = field(default_factory=list)
    # One slot: (scenario, `shared` case, its built step), the situation measured last; a built
    # step holds its model, so one situation's at a time.
    reference: tuple[Scenario, Case, SharedReference] | None = None
    # `shared`'s evaluation before and after its learning run, by scenario object and situation.
    learning: dict[tuple[int, Case], tuple[Scenario, Any]] = field(default_factory=dict)

    def kept_reference(self, scenario: Scenario, case: Case) -> SharedReference | None:
        """The `shared` step kept for `case`'s situation of `scenario`, if it is the one in the slot."""
        shared = replace(case, variant="shared")
        if self.reference is not None and self.reference[0] is scenario and self.reference[1] == shared:
            return self.reference[2]
        return None

    def keep_reference(self, scenario: Scenario, case: Case, reference: SharedReference) -> SharedReference:
        """Put `reference` in the slot as the `shared` step of `case`'s situation; return it."""
        self.reference = (scenario, replace(case, variant="shared"), reference)
        return reference

    def kept_learning(self, scenario: Scenario, case: Case) -> Any:
        """`shared`'s (before, after) evaluations for `case`'s situation of `scenario`, or None."""
        kept = self.learning.get((id(scenario), replace(case, variant="shared")))
        return kept[1] if kept is not None else None

    def keep_learning(self, scenario: Scenario, case: Case, evaluations: Any) -> Any:
        """Keep `shared`'s (before, after) evaluations for `case`'s situation; return them."""
        # The scenario is kept beside them, so its id names no other object while the session lasts.
        self.learning[(id(scenario), replace(case, variant="shared"))] = (scenario, evaluations)
        return evaluations
