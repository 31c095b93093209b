"""Does a profile setting narrow the process-level intervals? Runs and measures it.

    flock /tmp/tfreuse-bench.lock .venv/bin/python scripts/profile_setting_ab.py run \\
        --profile quick --setting paired_shared --processes 8 -o reports/setting-ab \\
        benchmarks/test_shared_layer.py benchmarks/test_attention.py
    .venv/bin/python scripts/profile_setting_ab.py widths reports/setting-ab

`--off-min-rounds N` also gives the "off" side at least N rounds a case, to judge a setting
against as many rounds spent another way.

`run` starts 2K fresh pytest processes, alternating the profile as it is ("on") and with the
setting switched off (False); `widths` prints, for each
benchmark's ratio to `shared`, the half-width of its hierarchical interval (processes, then
rounds: `tfreuse.core.intervals`) with the setting on and off, and the spread between processes.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from tfreuse.core.profiles import Profile

_CHILD = """
import dataclasses, sys
import pytest
import tfreuse.core.profiles as profiles
profile, setting, value, off_min_rounds, output, *targets = sys.argv[1:]
if value == "off":
    off = {setting: False}
    if int(off_min_rounds):
        chosen = profiles.PROFILES[profile]
        off.update(min_rounds=int(off_min_rounds), rounds=max(chosen.rounds, int(off_min_rounds)))
    profiles.PROFILES[profile] = dataclasses.replace(profiles.PROFILES[profile], **off)
sys.exit(pytest.main([*targets, "-q", "-p", "no:cacheprovider", "--tfreuse-profile", profile,
                      "--benchmark-json", output]))
"""


def run(args: argparse.Namespace) -> int:
    """2K fresh processes, on and off alternating (on off off on ...)."""
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_CPU_ALLOCATOR_USE_BFC": "1"}
    for index in range(1, args.processes + 1):
        for value in (("on", "off") if index % 2 else ("off", "on")):
            path = output / f"{value}-{index:02d}.json"
            status = subprocess.run([sys.executable, "-c", _CHILD, args.profile, args.setting, value,
                                     str(args.off_min_rounds), str(path), *args.targets],
                                    env=environment, stdout=subprocess.DEVNULL).returncode
            print(f"{path.name}: pytest exit status {status}", flush=True)
    return 0


def widths(args: argparse.Namespace) -> int:
    """Half-widths of the ratio intervals with the setting on and off."""
    from tfreuse.core import intervals
    from tfreuse.report.analyze import ratio_rounds as _ratio_rounds
    from tfreuse.report.load import load

    records = []
    for value in ("on", "off"):
        rows = load(sorted(Path(args.folder).glob(f"{value}-*.json"))).rows
        rows = rows.assign(rounds_timed=rows["rounds"], rounds=_ratio_rounds(rows))
        rows = rows[(rows["variant"] != "shared") & rows["rounds"].notna()]
        for name, group in rows.groupby("fullname"):
            pairs = list(group["rounds"])
            tops = [top for top, _ in pairs]
            bottoms = None if pairs[0][1] is None else [bottom for _, bottom in pairs]
            ratio = intervals.point(tops, bottoms)
            low, high = intervals.interval(intervals.hierarchical(tops, bottoms))
            each = [intervals.point([top], None if bottom is None else [bottom]) for top, bottom in pairs]
            records.append({"setting": value, "benchmark": name.split("::")[-1], "processes": len(pairs),
                            "rounds": float(np.median(group["rounds_timed"])),
                            "ratio": ratio, "half_width": (high - low) / 2 / ratio,
                            "between_sd": float(np.std(np.log(each), ddof=1)) if len(each) > 1 else np.nan})
    table = pd.DataFrame(records)
    side = table.pivot(index="benchmark", columns="setting", values="half_width").dropna()
    print(table.groupby("setting")[["half_width", "between_sd", "rounds"]].median().round(4).to_string())
    print(f"narrower with the setting on: {int((side['on'] < side['off']).sum())} of {len(side)}; "
          f"median on/off width {float((side['on'] / side['off']).median()):.2f}")
    print(table.pivot(index="benchmark", columns="setting", values=["ratio", "half_width"]).round(3).to_string())
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    running = commands.add_parser("run")
    running.add_argument("--profile", default="quick")
    running.add_argument("--setting", required=True,
                         choices=[f.name for f in dataclasses.fields(Profile)])
    running.add_argument("--processes", type=int, default=4)
    running.add_argument("--off-min-rounds", type=int, default=0,
                         help="the off side runs at least this many rounds a case (0: the profile's)")
    running.add_argument("-o", "--output", required=True)
    running.add_argument("targets", nargs="+")
    running.set_defaults(go=run)
    measuring = commands.add_parser("widths")
    measuring.add_argument("folder")
    measuring.set_defaults(go=widths)
    args = parser.parse_args()
    return args.go(args)


if __name__ == "__main__":
    sys.exit(main())
