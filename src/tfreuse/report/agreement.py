"""Do two measurements of the same code agree? Each one's ratio intervals against the other's ratios.

A 95% interval that a user can trust holds the figure the next run of the same code reads, most
of the time. For every ratio row the two measurements share (a variant against `shared` in the
same scenario, mode, device and size; `shared` itself left out), this counts how often each
measurement's interval holds the other's ratio, how many pairs of intervals do not even overlap,
how far the ratio moved, and how wide the intervals are.

A perfectly calibrated 95% interval holds an independent second estimate with the same spread
about 83% of the time, not 95% (the second estimate varies too); `make selfcheck` asks for 90%,
which intervals over processes meet and intervals over one process's rounds do not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tfreuse.report.analyze import interval_label

CASE = ["scenario", "variant", "mode", "device", "size"]


def ratio_rows(analyzed: pd.DataFrame) -> pd.DataFrame:
    """The rows of `analyzed` (one measurement) with a ratio and its interval, `shared` left out."""
    rows = analyzed[analyzed["tfreuse"].astype(bool) & (analyzed["outcome"] == "ok")
                    & (analyzed["variant"] != "shared")]
    rows = rows[np.isfinite(rows["ratio"].astype(float)) & np.isfinite(rows["ratio_ci_low"].astype(float))]
    return rows[CASE + ["ratio", "ratio_ci_low", "ratio_ci_high", "processes"]]


@dataclass
class Agreement:
    """How two measurements agree; `table` has one row per ratio both have."""

    table: pd.DataFrame
    intervals: tuple[str, str]

    @property
    def rows(self) -> int:
        return len(self.table)

    def covered(self, side: str) -> float:
        """Share of rows where `side`'s interval ("first" or "second") holds the other's ratio."""
        return float(self.table[f"covered_by_{side}"].mean()) if self.rows else float("nan")

    @property
    def disjoint(self) -> int:
        return int(self.table["disjoint"].sum())

    def half_width(self, side: str) -> float:
        """Median half-width of `side`'s intervals, relative to its ratio."""
        return float(self.table[f"half_width_{side}"].median()) if self.rows else float("nan")

    def change(self, quantile: float) -> float:
        """A quantile of how far the ratio moved between the two, relative to the smaller one."""
        return float(self.table["change"].quantile(quantile)) if self.rows else float("nan")

    def lines(self) -> list[str]:
        """The figures in words, one line each."""
        return [
            f"ratio rows in both: {self.rows}",
            f"the second's ratio inside the first's interval: {self.covered('first'):.0%} "
            f"({self.intervals[0]})",
            f"the first's ratio inside the second's interval: {self.covered('second'):.0%} "
            f"({self.intervals[1]})",
            f"disjoint intervals: {self.disjoint} ({self.disjoint / max(self.rows, 1):.1%})",
            f"change of the ratio, median / p90 / max: {self.change(0.5):.1%} / {self.change(0.9):.1%} / "
            f"{self.change(1.0):.1%}",
            f"interval half-width, median: {self.half_width('first'):.1%} and {self.half_width('second'):.1%}",
        ]


def agreement(first: pd.DataFrame, second: pd.DataFrame) -> Agreement:
    """Compare two analyzed measurements (`report.analyze.analyze` of each)."""
    a, b = ratio_rows(first), ratio_rows(second)
    joined = a.merge(b, on=CASE, suffixes=("_first", "_second"))
    table = joined[CASE].copy()
    for side, other in (("first", "second"), ("second", "first")):
        low, high = joined[f"ratio_ci_low_{side}"].astype(float), joined[f"ratio_ci_high_{side}"].astype(float)
        ratio = joined[f"ratio_{side}"].astype(float)
        table[f"ratio_{side}"] = ratio
        table[f"low_{side}"], table[f"high_{side}"] = low, high
        table[f"covered_by_{side}"] = joined[f"ratio_{other}"].astype(float).between(low, high)
        table[f"half_width_{side}"] = (high - low) / 2 / ratio
    table["disjoint"] = ((table["high_first"] < table["low_second"])
                         | (table["high_second"] < table["low_first"]))
    table["change"] = np.abs(np.log(table["ratio_second"] / table["ratio_first"]))
    table["change"] = np.expm1(table["change"])
    return Agreement(table, (interval_label(a["processes"]), interval_label(b["processes"])))
