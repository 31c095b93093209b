"""matplotlib figures of an analyzed result table, each returned as PNG bytes (for embedding)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

_WIDTH = 9.0


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _labels(rows: pd.DataFrame) -> list[str]:
    return [f"{r.variant} · {r.mode} · {r.size}" + (f" · {r.device}" if r.device != "CPU:0" else "")
            for r in rows.itertuples()]


def _height(count: int) -> float:
    return max(2.0, 0.28 * count + 1.0)


def slowdown(rows: pd.DataFrame, title: str) -> bytes | None:
    """Horizontal bars of step-time ratio to `shared` (log scale), with 95% CI whiskers."""
    rows = rows[rows["ratio"].notna() & (rows["variant"] != "shared")]
    if rows.empty:
        return None
    rows = rows.sort_values(["mode", "size", "ratio"])
    figure, axes = plt.subplots(figsize=(_WIDTH, _height(len(rows))))
    ratio = rows["ratio"].to_numpy(float)
    low = np.nan_to_num(ratio - rows["ratio_ci_low"].to_numpy(float), nan=0.0).clip(min=0)
    high = np.nan_to_num(rows["ratio_ci_high"].to_numpy(float) - ratio, nan=0.0).clip(min=0)
    colours = ["#c0392b" if r > 1.05 else "#27ae60" for r in ratio]
    positions = np.arange(len(rows))
    axes.barh(positions, ratio, color=colours, xerr=[low, high], capsize=3)
    axes.axvline(1.0, color="black", linewidth=1)
    axes.set_xscale("log")
    axes.set_yticks(positions, _labels(rows))
    axes.set_xlabel("step time / shared step time (log scale; 1 = as fast as reuse)")
    axes.set_title(title)
    return _png(figure)


def _bars(rows: pd.DataFrame, column: str, xlabel: str, title: str, scale: float = 1.0) -> bytes | None:
    rows = rows[rows[column].notna()]
    if rows.empty or not np.any(rows[column].to_numpy(float) != 0):
        return None
    rows = rows.sort_values(["mode", "size", "variant"])
    figure, axes = plt.subplots(figsize=(_WIDTH, _height(len(rows))))
    positions = np.arange(len(rows))
    axes.barh(positions, rows[column].to_numpy(float) / scale, color="#2c7fb8")
    axes.set_yticks(positions, _labels(rows))
    axes.axvline(0, color="black", linewidth=1)
    axes.set_xlabel(xlabel)
    axes.set_title(title)
    return _png(figure)


def memory_growth(rows: pd.DataFrame, title: str) -> bytes | None:
    """Process RSS growth per step (KiB) of each variant."""
    return _bars(rows, "rss_growth_per_step_bytes", "RSS growth per step (KiB)", title, 1024)


def traces(rows: pd.DataFrame, title: str) -> bytes | None:
    """tf.function trace events per step of each variant (none at all: no figure)."""
    return _bars(rows, "traces_per_step", "traces per step (after warm-up)", title)


def distributions(rows: pd.DataFrame, title: str) -> bytes | None:
    """Box plots of the raw per-round step times (ms) of each variant."""
    rows = rows[rows["samples"].map(len) > 0].sort_values(["mode", "size", "variant"])
    if rows.empty:
        return None
    figure, axes = plt.subplots(figsize=(_WIDTH, _height(len(rows))))
    axes.boxplot([np.asarray(s) * 1e3 for s in rows["samples"]], orientation="horizontal", showfliers=True)
    axes.set_yticks(np.arange(1, len(rows) + 1), _labels(rows))
    axes.set_xscale("log")
    axes.set_xlabel("step time per round (ms, log scale)")
    axes.set_title(title)
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
                                         0.6 * table.shape[0] + 3.5))
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
