"""Analysis: each variant's step time relative to `shared` in the same situation, with a 95% CI.

The situation is the same machine, run, scenario, mode, device and size. The ratio is of median
step times; its interval is a percentile bootstrap over the raw per-round timings of both sides
(resampling each side independently), so it needs pytest-benchmark's `stats.data`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tfreuse.schema import MIN_STABLE_ROUNDS, UNSTABLE_RSD

SITUATION = ["machine", "run", "scenario", "mode", "device", "size"]
BOOTSTRAP_RESAMPLES = 1000


def bootstrap_median_ratio(variant: np.ndarray, shared: np.ndarray,
                           resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of median(variant) / median(shared)."""
    if len(variant) < 2 or len(shared) < 2:
        return (np.nan, np.nan)
    rng = np.random.default_rng(seed)
    top = np.median(rng.choice(variant, (resamples, len(variant))), axis=1)
    bottom = np.median(rng.choice(shared, (resamples, len(shared))), axis=1)
    low, high = np.percentile(top / bottom, [2.5, 97.5])
    return float(low), float(high)


def add_ratios(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` plus `ratio`, `ratio_ci_low`, `ratio_ci_high` (variant median / shared median)."""
    rows = rows.copy()
    rows["ratio"] = np.nan
    rows["ratio_ci_low"] = np.nan
    rows["ratio_ci_high"] = np.nan
    ok = rows[(rows["outcome"] == "ok") & rows["tfreuse"]]
    for _, group in ok.groupby(SITUATION, dropna=False, sort=False):
        shared = group[group["variant"] == "shared"]
        if shared.empty:
            continue
        reference = shared.iloc[0]
        shared_samples = np.asarray(reference["samples"], dtype=float)
        for index, row in group.iterrows():
            rows.at[index, "ratio"] = row["median"] / reference["median"]
            if index == reference.name:
                rows.at[index, "ratio_ci_low"] = rows.at[index, "ratio_ci_high"] = 1.0
                continue
            low, high = bootstrap_median_ratio(np.asarray(row["samples"], dtype=float),
                                               shared_samples)
            rows.at[index, "ratio_ci_low"], rows.at[index, "ratio_ci_high"] = low, high
    return rows


def add_stability(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` plus `rsd` (stddev / mean) and `unstable`: a pyperf-style warning flag.

    Unstable means a relative standard deviation above 10% or fewer than 5 rounds.
    """
    rows = rows.copy()
    mean = rows["mean"].astype(float)
    rows["rsd"] = rows["stddev"].astype(float) / mean.where(mean > 0)
    rows["unstable"] = (rows["rsd"] > UNSTABLE_RSD) | (rows["rounds"].fillna(0) < MIN_STABLE_ROUNDS)
    return rows


def analyze(rows: pd.DataFrame) -> pd.DataFrame:
    """Ratios, intervals and stability flags for every row."""
    return add_stability(add_ratios(rows))


_VERB = {
    "reinstantiated": "re-instantiating {thing} every step",
    "recreated": "re-creating {thing} every step",
    "reinitialized": "re-initializing {thing} every step",
    "frozen_after_trace": "freezing {thing} after tracing",
    "new_object_arg": "passing a new layer object on every call",
    "new_object_arg_reduce_retracing": "passing a new layer object on every call with reduce_retracing=True",
    "per_timestep": "a separate cell per time step",
    "per_position": "separate projections per position",
    "creation_every_call": "creating a variable inside tf.function on every call",
}
_THING = {
    "shared_layer": "a layer", "training_loop": "the trained variable",
    "transfer_learning": "the pretrained extractor", "recurrent": "the LSTM",
    "attention": "the attention layer", "function_rules": "a variable",
}
_MODE = {"eager": "in eager mode", "function": "inside tf.function", "jit": "under XLA"}


def _bytes(value: float) -> str:
    for unit, size in (("MB", 1e6), ("KB", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value:.0f} B"


def headline(row: pd.Series) -> str:
    """One sentence with figures for a variant row that has a ratio."""
    verb = _VERB.get(row["variant"], f"the {row['variant']} variant").format(
        thing=_THING.get(row["scenario"], "the layer"))
    text = (f"{verb[0].upper()}{verb[1:]} {_MODE.get(row['mode'], row['mode'])} costs "
            f"{row['ratio']:.1f}x the shared step time")
    if np.isfinite(row.get("ratio_ci_low", np.nan)):
        text += f" (95% CI {row['ratio_ci_low']:.1f}-{row['ratio_ci_high']:.1f})"
    growth = row.get("rss_growth_per_step_bytes")
    if growth is not None and np.isfinite(growth) and growth > 1024:
        text += f" and grows memory by {_bytes(growth)} per step"
    traces = row.get("traces_per_step")
    if traces is not None and np.isfinite(traces) and traces > 0:
        text += ", retracing every step" if traces == 1 else f", retracing {traces:.2g} times per step"
    retained = row.get("learning_retained")
    if retained is not None and np.isfinite(retained) and retained < 0.9:
        text += f", keeping {retained:.0%} of the learning"
    return text + f" ({row['scenario']}, {row['size']}, {row['device']}, on {row['machine']})."


def headlines(analyzed: pd.DataFrame, per_scenario: int = 1) -> list[str]:
    """The costliest anti-pattern of each scenario on each machine, in plain words."""
    ranked = analyzed[analyzed["ratio"].notna() & (analyzed["variant"] != "shared")
                      & ~analyzed["variant"].isin(["mitigated", "guarded_creation"])]
    sentences = []
    for _, group in ranked.groupby(["machine", "scenario"], sort=True):
        for _, row in group.sort_values("ratio", ascending=False).head(per_scenario).iterrows():
            sentences.append(headline(row))
    return sentences


def errors(analyzed: pd.DataFrame) -> pd.DataFrame:
    """Rows TensorFlow refused, one per scenario/variant/mode, with the error."""
    refused = analyzed[analyzed["outcome"] == "error"]
    return refused.drop_duplicates(["scenario", "variant", "mode", "error_type"])[
        ["scenario", "variant", "mode", "error_type", "error_message"]]
