"""matplotlib figures of an analyzed result table, each returned as PNG bytes (for embedding)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

_WIDTH = 9.0


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return buffer.getvalue()


def _category(row) -> str:
    return f"{row.variant} · {row.mode} · {row.size}" + (f" · {row.device}" if row.device != "CPU:0" else "")


def _dots(rows: pd.DataFrame, column: str, xlabel: str, title: str, scale: float = 1.0,
          log: bool = False, whiskers: tuple[str, str] | None = None) -> bytes | None:
    """One row per (variant, mode, size[, device]), one marker per machine: readable at any count."""
    rows = rows[rows[column].notna()]
    if rows.empty or not np.any(rows[column].to_numpy(float) != 0):
        return None
    rows = rows.assign(category=[_category(r) for r in rows.itertuples()])
    categories = sorted(rows["category"].unique(), key=lambda c: tuple(reversed(c.split(" · ")[1:])) + (c,))
    position = {category: i for i, category in enumerate(categories)}
    machines = sorted(rows["machine"].unique())
    figure, axes = plt.subplots(figsize=(_WIDTH, max(2.2, 0.24 * len(categories) + 1.2)))
    figure.subplots_adjust(left=0.32, right=0.98)  # fixed margins: constrained layout costs a draw
    for offset, machine in enumerate(machines):
        mine = rows[rows["machine"] == machine]
        y = np.array([position[c] for c in mine["category"]], dtype=float)
        if len(machines) > 1:
            y += 0.5 * (offset / max(1, len(machines) - 1) - 0.5)
        x = mine[column].to_numpy(float) / scale
        error = None
        if whiskers:
            low = np.nan_to_num(x - mine[whiskers[0]].to_numpy(float), nan=0.0).clip(min=0)
            high = np.nan_to_num(mine[whiskers[1]].to_numpy(float) - x, nan=0.0).clip(min=0)
            error = [low, high]
        axes.errorbar(x, y, xerr=error, fmt="o", markersize=4, capsize=2, linewidth=1, label=machine)
    axes.set_yticks(np.arange(len(categories)), categories, fontsize=8)
    axes.axvline(1.0 if log else 0.0, color="black", linewidth=1)
    if log:
        axes.set_xscale("log")
        axes.xaxis.set_minor_formatter(NullFormatter())  # each label is a costly text draw
    axes.set_xlabel(xlabel)
    axes.set_title(title)
    if len(machines) > 1:
        axes.legend(fontsize=7, loc="best")
    return _png(figure)


def slowdown(rows: pd.DataFrame, title: str) -> bytes | None:
    """Step-time ratio to `shared` (log scale) with its 95% interval, per variant and machine."""
    rows = rows[rows["variant"] != "shared"]
    return _dots(rows, "ratio", "step time / shared step time (log scale; 1 = as fast as reuse)",
                 title, log=True, whiskers=("ratio_ci_low", "ratio_ci_high"))


def memory_retained(rows: pd.DataFrame, title: str) -> bytes | None:
    """Bytes retained per step (KiB; bytes in use after gc.collect(), not RSS) of each variant."""
    return _dots(rows, "retained_bytes_per_step",
                 "memory retained per step (KiB in use after gc.collect())", title, scale=1024)


def traces(rows: pd.DataFrame, title: str) -> bytes | None:
    """tf.function trace events per step of each variant (none at all: no figure)."""
    return _dots(rows, "traces_per_step", "traces per step (after warm-up)", title)


def distributions(rows: pd.DataFrame, title: str) -> bytes | None:
    """Box plots of the raw per-round step times (ms) of each variant, on the first machine."""
    rows = rows[(rows["samples"].map(len) > 0) & (rows["machine"] == rows["machine"].min())]
    if rows.empty:
        return None
    rows = rows.assign(category=[_category(r) for r in rows.itertuples()]).sort_values(["mode", "size", "variant"])
    figure, axes = plt.subplots(figsize=(_WIDTH, max(2.2, 0.24 * len(rows) + 1.2)))
    figure.subplots_adjust(left=0.32, right=0.98)
    axes.boxplot([np.asarray(s) * 1e3 for s in rows["samples"]], orientation="horizontal", showfliers=True)
    axes.set_yticks(np.arange(1, len(rows) + 1), rows["category"], fontsize=8)
    axes.set_xscale("log")
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("step time per round (ms, log scale)")
    axes.set_title(f"{title} ({rows['machine'].iloc[0]})")
    return _png(figure)


def machine_heatmap(rows: pd.DataFrame) -> bytes | None:
    """Machines x (scenario, variant, mode) heatmap of log2 ratio to shared; None for one machine."""
    rows = rows[rows["ratio"].notna() & (rows["variant"] != "shared")]
    if rows["machine"].nunique() < 2:
        return None
    table = rows.pivot_table(index="machine", columns=["scenario", "variant", "mode"],
                             values="ratio", aggfunc="median")
    values = np.log2(table.to_numpy(float))
    figure, axes = plt.subplots(figsize=(max(_WIDTH, 0.35 * table.shape[1] + 3),
                                         0.6 * table.shape[0] + 3.5), layout="constrained")
    limit = max(1.0, float(np.nanmax(np.abs(values))))
    image = axes.imshow(values, cmap="RdYlGn_r", vmin=-limit, vmax=limit, aspect="auto")
    axes.set_yticks(np.arange(table.shape[0]), table.index)
    axes.set_xticks(np.arange(table.shape[1]), [" · ".join(c) for c in table.columns], rotation=75,
                    ha="right", fontsize=7)
    for (i, j), value in np.ndenumerate(table.to_numpy(float)):
        if np.isfinite(value):
            axes.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=6)
    figure.colorbar(image, ax=axes, label="log2(step time / shared) on that machine")
    axes.set_title("Slowdown against shared, per machine (normalised per machine)")
    return _png(figure)
