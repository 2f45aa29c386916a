"""Configs at scale: 100, 1,000 and 5,000 KPIs (teams of 10 KPIs, one owner each) over 40 inputs and
120 months of data, written here. Each KPI is a ratio, a growth over prev(), a year to date, a moving
average or a KPI of KPIs, with a target. Figures for `compute`, `report` (one PDF of every KPI: past
50 KPIs, a line each, see review.COMPACT_ABOVE) and `report --per owner` (one PDF per team, a card per
KPI), each run as the real command in a fresh process: wall time, CPU time (user + sys of the process
and its workers) and peak memory (the largest resident set of the process or any one worker).

Goals: 5,000 KPIs `compute` <= 3 s, `report` <= 30 s and <= 1.5 GB; 1,000 KPIs (100 teams)
`compute` <= 1.5 s, `report --per owner` <= 20 s on 2 cores. Prints figures; never fails.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from kpireport.months import Month, month_range

INPUTS = 40
MONTHS = month_range(Month(2016, 11), Month(2026, 10))  # 120 months
TEAM = 10  # KPIs per owner
SIZES = [int(size) for size in os.environ.get("BENCH_SCALE_SIZES", "100,1000,5000").split(",")]


def kpi_formula(index: int, rng: random.Random) -> str:
    """A mix of what configs hold: ratios, growth, windows, and KPIs built on earlier KPIs."""
    a, b = (f"in{rng.randrange(INPUTS):02d}" for _ in range(2))
    kind = index % 10
    if kind in (0, 1, 2):
        return f"{a} / {b}"
    if kind == 3:
        return f"({a} - prev({a})) / prev({a})"
    if kind == 4:
        return f"({a} - prev({a}, 12)) / prev({a}, 12)"
    if kind == 5:
        return f"ytd({a}) / ytd({b})"
    if kind == 6:
        return f"avg({a}, 3)"
    if kind == 7 and index >= 10:
        return f"k{index - 7:05d} * 100"  # a KPI of a KPI (a ratio, 7 KPIs earlier)
    if kind == 8:
        return f"{a} + {b}"
    return f"max({a}, {b}) - min({a}, {b})"


def write_project(folder: Path, kpis: int) -> Path:
    rng = random.Random(kpis)
    folder.mkdir(parents=True, exist_ok=True)
    teams = max(1, kpis // TEAM)
    document = {
        "title": f"Scale {kpis}",
        "locale": "en",
        "owners": {f"team{t:04d}": {"name": f"Team {t}", "email": f"team{t}@example.com"} for t in range(teams)},
        "inputs": {f"in{i:02d}": {"aggregate": "sum" if i % 4 else "mean"} for i in range(INPUTS)},
        "kpis": {},
        "sources": [{"path": "data.csv"}],
    }
    for index in range(kpis):
        kpi: dict = {"formula": kpi_formula(index, rng), "owner": f"team{index // TEAM:04d}",
                     "domain": f"Domain {index // (TEAM * 5)}"}
        if index % 3:
            kpi["target"] = round(rng.uniform(0.5, 2.0), 2)
        kpi["direction"] = "down" if index % 7 == 0 else "up"
        document["kpis"][f"k{index:05d}"] = kpi
    path = folder / "kpireport.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    lines = ["date," + ",".join(f"in{i:02d}" for i in range(INPUTS))]
    for month in MONTHS:
        lines.append(f"{month}," + ",".join(str(rng.randint(100, 10_000)) for _ in range(INPUTS)))
    (folder / "data.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(args: list[str], cwd: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + sys, workers included) and peak resident MB of the command."""
    command = [str(Path(sys.executable).with_name("kpireport")), *args]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    error = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {error[-2000:]}")
    # the children of the command (the per-owner workers, the second part's process) are its own
    # children, reaped by it: wait4 counts them in, and ru_maxrss is the largest of them all
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="kpireport-scale-"))
    print(f"{INPUTS} inputs, {len(MONTHS)} months of data, teams of {TEAM} KPIs; "
          "wall s / CPU s (user+sys, workers included) / peak MB")
    for size in SIZES:
        config = write_project(folder / str(size), size)
        cwd = config.parent
        figures = {"compute": run(["compute", str(config)], cwd),
                   "report": run(["report", str(config), "-o", "out/review.pdf"], cwd),
                   "report --per owner": run(["report", str(config), "-o", "per/review.pdf", "--per", "owner"], cwd)}
        shown = " · ".join(f"{name} {wall:.2f} / {cpu:.2f} s, {peak:.0f} MB"
                           for name, (wall, cpu, peak) in figures.items())
        print(f"{size:>5} KPIs ({max(1, size // TEAM)} owners): {shown}", flush=True)


if __name__ == "__main__":
    main()
