"""matplotlib figures of an analyzed result table, each returned as inline SVG markup.

SVG with text kept as text (`svg.fonttype: none`) is a fraction of the size of a PNG of the same
figure and stays sharp at any zoom: the page of a full run stays small and self-contained. Each
figure gets its own `svg.hashsalt`, so the ids its markers and clip paths refer to are
reproducible and never collide with another figure's on the same page.
"""

from __future__ import annotations

import hashlib
import io
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import LogLocator, NullFormatter, NullLocator

from tfreuse.core.roles import ANTI_PATTERN
from tfreuse.report.analyze import MODE_NAMES, interval_label

_WIDTH = 9.0
_OVERVIEW_WIDTH = 7.5
_FONT = {"font.size": 7, "axes.titlesize": 7.5, "axes.labelsize": 7, "xtick.labelsize": 6.5,
         "ytick.labelsize": 6.5, "legend.fontsize": 6.5}
# One colour per mode, the same in every figure; modes beyond these get the default cycle.
_MODE_COLOURS = {"eager": "#1f77b4", "function": "#e67e22", "jit": "#2ca02c"}
_MACHINE_MARKERS = "osD^v<>p"
# Retained bytes at or under this are drawn at the memory axis' left edge (a log axis has no 0).
_MEMORY_FLOOR_KIB = 1.0
# Matplotlib numbers its groups figure_1, axes_1, ...: the same in every figure, never referred to.
_COUNTER_IDS = re.compile(r' id="[A-Za-z][A-Za-z0-9_.]*_\d+"')
_USES = re.compile(r'(?:<use [^>]*? style="[^"]*"/>)+')
_ROUNDED = re.compile(r"(\d\.\d)\d+")


def _svg(figure, salt: str, label: str) -> str:
    """The figure as an `<svg>` element that scales to its container's width."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(figure)
    text = _compact(buffer.getvalue(), "s" + hashlib.sha1(salt.encode()).hexdigest()[:6])
    # Width and height in pt would fix the size; the viewBox keeps the aspect ratio instead.
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"',
                  lambda m: f'<svg{m.group(1)} class="figure" role="img" aria-label="{_attribute(label)}"',
                  text, count=1)
    return text.strip()


def _compact(svg: str, prefix: str) -> str:
    """Matplotlib's SVG without what a browser does not need: the XML prolog, metadata, counter
    ids, indentation, groups that only wrap, identity rotations, the font fallback list on every
    text (the page's stylesheet gives it once), coordinates beyond a tenth of a point, and each
    distinct style written once, as a class named after `prefix` (unique to the figure)."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = _COUNTER_IDS.sub("", svg)
    svg = re.sub(r' transform="rotate\(-?0 [^"]*\)"', "", svg)
    svg = re.sub(r"font-family: [^;\"]*;? ?", "", svg)
    svg = re.sub(r"<[^>]+>", lambda tag: _ROUNDED.sub(r"\1", tag.group(0)), svg)
    svg = re.sub(r">\s+<", "><", svg)
    svg = re.sub(r"\s*\n\s*", " ", svg)
    svg = _USES.sub(_shared_style, svg)
    # Groups without attributes only wrap: drop the empty ones and unwrap those around one element.
    bare = re.compile(r"<g/>|<g></g>|<g>(<(?:use|path)[^>]*/>|<text[^>]*>[^<]*</text>)</g>")
    while bare.search(svg):
        svg = bare.sub(r"\1", svg)
    classes: dict[str, str] = {}
    svg = re.sub(r'style="([^"]*)"',
                 lambda m: f'class="{classes.setdefault(m.group(1), f"{prefix}-{len(classes)}")}"', svg)
    rules = "".join(f".{name}{{{style}}}" for style, name in classes.items())
    return re.sub(r"(<svg[^>]*>)", lambda m: f"{m.group(1)}<style>{rules}</style>", svg, count=1)


def _shared_style(run: re.Match) -> str:
    """A run of markers (`<use>`) in one group whose style is given once, not on each."""
    uses = re.findall(r'(<use [^>]*?) style="([^"]*)"/>', run.group(0))
    pieces, start = [], 0
    while start < len(uses):
        end = start
        while end < len(uses) and uses[end][1] == uses[start][1]:
            end += 1
        markers = "".join(f"{use}/>" for use, _ in uses[start:end])
        pieces.append(f'<g style="{uses[start][1]}">{markers}</g>' if end - start > 1 else
                      f'{uses[start][0]} style="{uses[start][1]}"/>')
        start = end
    return "".join(pieces)


def _attribute(text: str) -> str:
    return (text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;"))


def _modes(rows: pd.DataFrame) -> list[str]:
    """Modes in the order the run measured them (the parametrization's: eager, function, jit)."""
    return [m for m in pd.unique(rows["mode"]) if isinstance(m, str)]


def _colour(mode: str, modes: list[str]) -> str:
    return _MODE_COLOURS.get(mode) or f"C{modes.index(mode) % 10}"


def size_order(rows: pd.DataFrame) -> dict[str, list[str]]:
    """Each scenario's sizes from the fastest `shared` step to the slowest (smaller to larger)."""
    order = {}
    for scenario, group in rows.groupby("scenario"):
        shared = group[group["variant"] == "shared"].groupby("size")["median"].mean()
        sizes = sorted(group["size"].dropna().unique(), key=lambda s: (shared.get(s, np.inf), s))
        order[scenario] = sizes
    return order


def _log_limits(values: np.ndarray, floor: float | None = None) -> tuple[float, float]:
    values = values[np.isfinite(values) & (values > 0)]
    if floor is not None:
        values = np.append(values, floor)
    if values.size == 0:
        return (0.5, 2.0)
    return (min(0.8, values.min() / 1.4), max(1.5, values.max() * 1.4))


def _log_axis(axes, limits: tuple[float, float]) -> None:
    axes.set_xscale("log")
    axes.set_xlim(*limits)
    axes.xaxis.set_major_locator(LogLocator(base=10))
    axes.xaxis.set_minor_locator(NullLocator())  # each tick is a costly element of the SVG
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.grid(axis="x", linewidth=0.4, color="#dddddd")
    axes.set_axisbelow(True)


def _retained_kib(rows: pd.DataFrame) -> np.ndarray:
    values = rows["retained_bytes_per_step"].to_numpy(float) / 1024
    return np.where(np.isfinite(values), np.maximum(values, _MEMORY_FLOOR_KIB), np.nan)


def _marks(rows: pd.DataFrame, sizes: list[str], machines: list[str]):
    """(size, machine) of each row -> (vertical offset, marker, filled): larger sizes filled."""
    combos = [(s, m) for m in machines for s in sizes]
    spread = {combo: (0.0 if len(combos) == 1 else 0.5 * (i / (len(combos) - 1) - 0.5))
              for i, combo in enumerate(combos)}
    for row in rows.itertuples():
        size = row.size if row.size in sizes else sizes[0]
        marker = _MACHINE_MARKERS[machines.index(row.machine) % len(_MACHINE_MARKERS)]
        yield spread.get((size, row.machine), 0.0), marker, sizes.index(size) == len(sizes) - 1


def _sources(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` whose `machine` also names the device where a run measured more than one, so that
    each (machine, device) gets a marker of its own."""
    if rows["device"].nunique() < 2:
        return rows
    return rows.assign(machine=rows["machine"] + " · " + rows["device"].fillna(""))


def _polyline(axes, xs: list, ys: list, **style) -> None:
    """Many pieces of line as one Line2D (NaN between pieces): one element of the SVG, not one each."""
    x, y = [], []
    for piece_x, piece_y in zip(xs, ys):
        x += list(piece_x) + [np.nan]
        y += list(piece_y) + [np.nan]
    if x:
        axes.plot(x, y, clip_on=False, **style)


def _points(axes, rows: pd.DataFrame, y: dict, x: np.ndarray, colour, sizes, machines,
            whiskers: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """A marker per row at (x, its variant's y), its interval as a line; markers alike drawn together."""
    groups: dict[tuple, list] = {}
    for i, (row, (offset, marker, filled)) in enumerate(zip(rows.itertuples(), _marks(rows, sizes, machines))):
        if not np.isfinite(x[i]):
            continue
        tint = colour(row.mode) if callable(colour) else colour
        low, high = (whiskers[0][i], whiskers[1][i]) if whiskers is not None else (np.nan, np.nan)
        groups.setdefault((tint, marker, filled), []).append((x[i], y[row.variant] + offset, low, high))
    for (tint, marker, filled), points in groups.items():
        bars = [(low, high, at) for _, at, low, high in points if np.isfinite(low) and np.isfinite(high)]
        _polyline(axes, [(low, high) for low, high, _ in bars], [(at, at) for _, _, at in bars],
                  color=tint, linewidth=0.8)
        axes.plot([p[0] for p in points], [p[1] for p in points], linestyle="", marker=marker,
                  markersize=3.2, color=tint, markerfacecolor=tint if filled else "white",
                  markeredgewidth=0.8, clip_on=False)


def _legend(figure, modes: list[str], sizes_vary: bool, machines: list[str], interval: str) -> None:
    handles = [Line2D([], [], marker="s", linestyle="", color=_colour(m, modes),
                      label=MODE_NAMES.get(m, m)) for m in modes]
    if sizes_vary:
        handles += [Line2D([], [], marker="o", linestyle="", color="#444444", label="larger size"),
                    Line2D([], [], marker="o", linestyle="", color="#444444", markerfacecolor="white",
                           label="smaller size")]
    if len(machines) > 1:
        handles += [Line2D([], [], marker=_MACHINE_MARKERS[i % len(_MACHINE_MARKERS)], linestyle="",
                           color="#444444", label=m) for i, m in enumerate(machines)]
    handles.append(Line2D([], [], marker="|", linestyle="-", color="#444444", label=interval))
    figure.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), frameon=False,
                  handletextpad=0.3, columnspacing=1.0)


def overview(rows: pd.DataFrame) -> str | None:
    """Small multiples of every scenario's re-creating variants: slowdown against `shared` per mode
    (log scale, with its interval) and bytes retained per step, one row of panels per scenario."""
    rows = rows[rows["tfreuse"].astype(bool) & (rows["outcome"] == "ok")]
    sizes = size_order(rows)  # from the `shared` rows, left out of the chart itself
    rows = rows[rows["variant_role"] == ANTI_PATTERN]
    rows = rows[rows["ratio"].notna() | rows["retained_bytes_per_step"].notna()]
    if rows.empty:
        return None
    rows = _sources(rows)
    modes, machines = _modes(rows), sorted(rows["machine"].unique())
    scenarios = sorted(rows["scenario"].unique())
    # Costliest variant at the top of its scenario's panels.
    variants = {s: list(g.groupby("variant")["ratio"].max().sort_values(ascending=False, na_position="last").index)
                for s, g in rows.groupby("scenario")}
    heights = [len(variants[s]) + 0.9 for s in scenarios]
    with plt.rc_context(_FONT):
        # Narrower than the other figures: it shares the first screen with the headlines.
        figure = plt.figure(figsize=(_OVERVIEW_WIDTH, 0.19 * sum(heights) + 1.0))
        grid = figure.add_gridspec(len(scenarios), len(modes) + 1, height_ratios=heights, hspace=0.9,
                                   wspace=0.08, left=0.23, right=0.99, top=1 - 0.38 / figure.get_figheight(),
                                   bottom=0.62 / figure.get_figheight())
        ratio_limits = _log_limits(np.concatenate([rows[c].to_numpy(float)
                                                   for c in ("ratio", "ratio_ci_low", "ratio_ci_high")]))
        memory_limits = _log_limits(_retained_kib(rows), floor=_MEMORY_FLOOR_KIB)
        for r, scenario in enumerate(scenarios):
            mine = rows[rows["scenario"] == scenario]
            y = {v: -i for i, v in enumerate(variants[scenario])}
            for c, mode in enumerate(modes + ["memory"]):
                axes = figure.add_subplot(grid[r, c])
                if mode == "memory":
                    _log_axis(axes, memory_limits)
                    _points(axes, mine, y, _retained_kib(mine), lambda m: _colour(m, modes),
                            sizes[scenario], machines)
                else:
                    _log_axis(axes, ratio_limits)
                    axes.axvline(1.0, color="black", linewidth=0.7)
                    here = mine[mine["mode"] == mode]
                    _points(axes, here, y, here["ratio"].to_numpy(float), _colour(mode, modes),
                            sizes[scenario], machines,
                            (here["ratio_ci_low"].to_numpy(float), here["ratio_ci_high"].to_numpy(float)))
                axes.set_ylim(-len(y) + 0.4, 0.6)
                axes.set_yticks(list(y.values()), list(y) if c == 0 else [])
                axes.tick_params(axis="y", length=0)
                bottom = r == len(scenarios) - 1
                axes.tick_params(axis="x", length=2 if bottom else 0, pad=1, labelbottom=bottom)
                if c == 0:
                    axes.set_title(scenario, loc="left", fontweight="bold", pad=2)
                if r == 0:  # column headings at the top of the figure, clear of the first title
                    box = axes.get_position()
                    header = ("retained KiB/step" if mode == "memory"
                              else f"{MODE_NAMES.get(mode, mode)} (x shared)")
                    figure.text((box.x0 + box.x1) / 2, 1 - 0.06 / figure.get_figheight(), header,
                                ha="center", va="top", fontweight="bold")
                for side in ("top", "right"):
                    axes.spines[side].set_visible(False)
        _legend(figure, modes, any(len(s) > 1 for s in sizes.values()), machines,
                interval_label(rows["processes"] if "processes" in rows else 1))
        return _svg(figure, "overview", "overview: slowdown against shared and memory retained per step, per scenario")


def _categories(rows: pd.DataFrame) -> pd.Series:
    device = rows["device"].where(rows["device"] != "CPU:0", "")
    return rows["variant"] + " · " + rows["size"].fillna("").astype(str) + np.where(device != "", " · " + device, "")


def scenario_figure(rows: pd.DataFrame, name: str) -> str | None:
    """One scenario's small multiples side by side: slowdown against `shared` (log, with its interval),
    bytes retained per step and, only where any is above 0, traces per step; colour is the mode."""
    rows = rows[(rows["outcome"] == "ok")]
    if rows.empty:
        return None
    rows = rows.assign(category=_categories(rows))
    modes, machines = _modes(rows), sorted(rows["machine"].unique())
    order = (rows.groupby("category")["ratio"].max().fillna(1.0).sort_values(ascending=False).index)
    y = {c: -i for i, c in enumerate(order)}
    rows = rows.assign(variant=rows["category"])  # one row of the panel per variant and size
    panels = [("slowdown", "x shared (log scale)")]
    if rows["retained_bytes_per_step"].notna().any():
        panels.append(("memory", "retained per step (KiB, log scale)"))
    traces = rows["traces_per_step"].to_numpy(float)
    if np.any(np.nan_to_num(traces) > 0):
        panels.append(("traces", "traces per step"))
    with plt.rc_context(_FONT):
        figure, axes_row = plt.subplots(1, len(panels), sharey=True, squeeze=False,
                                        figsize=(_WIDTH, 0.17 * len(y) + 1.1))
        figure.subplots_adjust(left=0.24, right=0.99, wspace=0.08, top=1 - 0.25 / figure.get_figheight(),
                               bottom=0.62 / figure.get_figheight())
        colour = lambda m: _colour(m, modes)  # noqa: E731
        offsets = {m: (0.0 if len(modes) == 1 else 0.5 * (i / (len(modes) - 1) - 0.5)) for i, m in enumerate(modes)}
        for axes, (kind, label) in zip(axes_row[0], panels):
            for mode in modes:
                here = rows[rows["mode"] == mode]
                shifted = {c: v + offsets[mode] for c, v in y.items()}
                if kind == "slowdown":
                    _points(axes, here, shifted, here["ratio"].to_numpy(float), colour, [None], machines,
                            (here["ratio_ci_low"].to_numpy(float), here["ratio_ci_high"].to_numpy(float)))
                elif kind == "memory":
                    _points(axes, here, shifted, _retained_kib(here), colour, [None], machines)
                else:
                    _points(axes, here, shifted, here["traces_per_step"].to_numpy(float), colour, [None], machines)
            if kind == "slowdown":
                _log_axis(axes, _log_limits(np.concatenate([rows[c].to_numpy(float) for c in
                                                            ("ratio", "ratio_ci_low", "ratio_ci_high")])))
                axes.axvline(1.0, color="black", linewidth=0.7)
            elif kind == "memory":
                _log_axis(axes, _log_limits(_retained_kib(rows), floor=_MEMORY_FLOOR_KIB))
            else:
                axes.set_xlim(left=0)
                axes.grid(axis="x", linewidth=0.4, color="#dddddd")
            axes.set_title(label, pad=2)
            axes.tick_params(axis="y", length=0)
            axes.tick_params(axis="x", length=2, pad=1)
            axes.set_ylim(-len(y) + 0.4, 0.6)
            for side in ("top", "right"):
                axes.spines[side].set_visible(False)
        axes_row[0][0].set_yticks(list(y.values()), list(y))
        _legend(figure, modes, False, machines, interval_label(rows["processes"] if "processes" in rows else 1))
        return _svg(figure, f"scenario-{name}", f"{name}: slowdown, memory retained and traces per step")


def _boxes(axes, samples: list[np.ndarray]) -> None:
    """Horizontal box plots at y = 1, 2, ...: quartile box, median, whiskers to the fastest and the
    slowest round; each kind of line is one element (matplotlib's boxplot makes six per box)."""
    quartiles = [np.percentile(s, [0, 25, 50, 75, 100]) for s in samples]
    boxes_x, boxes_y, whiskers_x, whiskers_y, medians_x, medians_y = [], [], [], [], [], []
    for y, (least, q1, median, q3, most) in enumerate(quartiles, start=1):
        boxes_x.append((q1, q3, q3, q1, q1))
        boxes_y.append((y - 0.3, y - 0.3, y + 0.3, y + 0.3, y - 0.3))
        whiskers_x += [(least, q1), (q3, most)]
        whiskers_y += [(y, y), (y, y)]
        medians_x.append((median, median))
        medians_y.append((y - 0.3, y + 0.3))
    _polyline(axes, whiskers_x, whiskers_y, color="#555555", linewidth=0.7)
    _polyline(axes, boxes_x, boxes_y, color="#1f77b4", linewidth=0.8)
    _polyline(axes, medians_x, medians_y, color="#e67e22", linewidth=1.2)
    axes.set_ylim(len(samples) + 0.6, 0.4)


def distributions(rows: pd.DataFrame, title: str) -> str | None:
    """Box plots of the raw per-round step times (ms) of each variant, on the first machine;
    whiskers reach the fastest and the slowest round (no marker per outlier: a full run has
    hundreds, each an element of the page)."""
    rows = rows[(rows["samples"].map(len) > 0) & (rows["machine"] == rows["machine"].min())]
    if rows.empty:
        return None
    rows = rows.assign(category=_categories(rows) + " · " + rows["mode"]).sort_values(["mode", "size", "variant"])
    with plt.rc_context(_FONT):
        figure, axes = plt.subplots(figsize=(_WIDTH, 0.16 * len(rows) + 0.9))
        figure.subplots_adjust(left=0.3, right=0.98, top=1 - 0.3 / figure.get_figheight(),
                               bottom=0.45 / figure.get_figheight())
        _boxes(axes, [np.asarray(s, float) * 1e3 for s in rows["samples"]])
        axes.set_yticks(np.arange(1, len(rows) + 1), rows["category"])
        axes.tick_params(axis="y", length=0)
        _log_axis(axes, _log_limits(np.concatenate([np.asarray(s, float) * 1e3 for s in rows["samples"]])))
        axes.set_xlabel("step time per round (ms, log scale)", labelpad=1)
        axes.set_title(f"{title} ({rows['machine'].iloc[0]})", pad=2)
        return _svg(figure, f"distributions-{title}", f"{title}: step-time distributions")


def machine_heatmap(rows: pd.DataFrame) -> str | None:
    """Machines x (scenario, variant, mode) heatmap of log2 ratio to shared; None for one machine."""
    rows = rows[rows["ratio"].notna() & (rows["variant"] != "shared")]
    if rows["machine"].nunique() < 2:
        return None
    table = rows.pivot_table(index="machine", columns=["scenario", "variant", "mode"],
                             values="ratio", aggfunc="median")
    values = np.log2(table.to_numpy(float))
    with plt.rc_context(_FONT):
        figure, axes = plt.subplots(figsize=(max(_WIDTH, 0.3 * table.shape[1] + 3),
                                             0.5 * table.shape[0] + 3.0), layout="constrained")
        limit = max(1.0, float(np.nanmax(np.abs(values))))
        image = axes.imshow(values, cmap="RdYlGn_r", vmin=-limit, vmax=limit, aspect="auto")
        axes.set_yticks(np.arange(table.shape[0]), table.index)
        axes.set_xticks(np.arange(table.shape[1]), [" · ".join(c) for c in table.columns], rotation=75,
                        ha="right", fontsize=6)
        for (i, j), value in np.ndenumerate(table.to_numpy(float)):
            if np.isfinite(value):
                axes.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=5.5)
        figure.colorbar(image, ax=axes, label="log2(step time / shared) on that machine")
        axes.set_title("Slowdown against shared, per machine (normalised per machine)")
        return _svg(figure, "heatmap", "slowdown heatmap across machines")
