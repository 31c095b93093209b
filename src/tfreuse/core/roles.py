"""What a variant means: its role, the phrase a report's sentence uses, and what a fix must bring back.

A scenario declares them (`Variant`); the harness writes them into each record (`variant_role`,
`variant_phrase`, `fix_restores`, `mode_phrase`) and the report reads them from there, so a
user's own scenario is worded as its author wrote it. A variant nobody declared, and a record
written before the fields existed, get the naming convention's meaning (`by_name`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

BASELINE = "baseline"
ANTI_PATTERN = "anti-pattern"
FIX = "fix"
ROLES = (BASELINE, ANTI_PATTERN, FIX)

# The figures a fix can be asked to bring back to the baseline's, and how the report judges each
# (`tfreuse.report.analyze.not_restored`): step time, retracing, memory kept per step, learning
# kept, frozen weights that stay frozen, and file descriptors and threads left open per step.
RESTORABLE = ("time", "traces", "memory", "learning", "drift", "descriptors", "threads")
# What a fix restores unless it says otherwise.
DEFAULT_RESTORES = ("time", "traces", "learning")

# How a sentence names a mode ("... in eager mode costs 3.1x ..."): the default, and the one of a
# scenario whose mode is Keras' own setting for fit/predict/train_on_batch.
MODE_PHRASES = {"eager": "in eager mode", "function": "inside tf.function", "jit": "under XLA"}
KERAS_MODE_PHRASES = {"eager": "with run_eagerly=True", "function": "in Keras' default (tf.function) mode",
                      "jit": "with jit_compile=True"}


@dataclass(frozen=True)
class Variant:
    """A variant's declared meaning.

    `phrase` completes "<phrase> <mode phrase> costs 2.0x the shared step time": for a fix, word it
    so that "still costs" reads right. `restores` (a fix only) names the figures of RESTORABLE
    the fix must bring back to the baseline's; it is judged on those alone.
    """

    phrase: str
    role: str = ANTI_PATTERN
    restores: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"variant role {self.role!r}: expected one of {', '.join(ROLES)}")
        unknown = [figure for figure in self.restores if figure not in RESTORABLE]
        if unknown:
            raise ValueError(f"a fix restores {', '.join(unknown)}: expected some of {', '.join(RESTORABLE)}")
        if self.restores and self.role != FIX:
            raise ValueError(f"only a fix restores figures; this variant's role is {self.role!r}")

    @classmethod
    def baseline(cls, phrase: str) -> Variant:
        """The reuse baseline every other variant is timed against (`shared`)."""
        return cls(phrase, BASELINE)

    @classmethod
    def fix(cls, phrase: str, restores: tuple[str, ...] = DEFAULT_RESTORES) -> Variant:
        """A fix users are told to apply, judged on the figures it `restores`."""
        return cls(phrase, FIX, tuple(restores))


def by_name(variant: str) -> Variant:
    """The naming convention's meaning, for a variant nobody declared: `shared` is the baseline,
    `mitigated` and `mitigated_<how>` are fixes, anything else an anti-pattern; the phrase names it."""
    phrase = f"the {variant} variant"
    if variant == "shared":
        return Variant.baseline(phrase)
    if variant == "mitigated" or variant.startswith("mitigated_"):
        return Variant.fix(phrase)
    return Variant(phrase)


def record_fields(meaning: Variant, mode_phrase: str | None) -> dict:
    """The record's fields for a variant's meaning and its mode's phrase."""
    return {"variant_role": meaning.role, "variant_phrase": meaning.phrase,
            "fix_restores": list(meaning.restores), "mode_phrase": mode_phrase}


def declared(variants: Mapping[str, Variant | str] | tuple[str, ...] | list[str]) -> dict[str, Variant]:
    """Each variant's meaning from a scenario's `variants`: a tuple of names (each meaning
    `by_name`), or a mapping of name to a `Variant`, or to a phrase (the role `by_name`'s)."""
    if not isinstance(variants, Mapping):
        return {name: by_name(name) for name in variants}
    meanings = {name: replace(by_name(name), phrase=meaning) if isinstance(meaning, str) else meaning
                for name, meaning in variants.items()}
    baselines = [name for name, meaning in meanings.items() if meaning.role == BASELINE]
    if baselines not in ([], ["shared"]):
        raise ValueError(f"the baseline is the variant `shared` (every ratio is to it), not {', '.join(baselines)}")
    return meanings
