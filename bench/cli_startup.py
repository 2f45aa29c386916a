"""How fast `kpireport --help` answers (goal: under 0.3 s), beside a bare `python -c pass` floor.

Prints figures; never fails. Run with `./dev bench`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

from _timing import timings  # bench/ is on the path: these run as scripts

RUNS = 15
KPIREPORT = Path(sys.executable).with_name("kpireport")


def timed(command: list[str]) -> list[float]:
    return timings(lambda: subprocess.run(command, check=True, capture_output=True), RUNS)


def main() -> None:
    floor = timed([sys.executable, "-c", "pass"])
    help_times = timed([str(KPIREPORT), "--help"])
    compute_help = timed([str(KPIREPORT), "compute", "--help"])
    for name, times in (("python -c pass (floor)", floor), ("kpireport --help", help_times),
                        ("kpireport compute --help", compute_help)):
        print(f"{name:<26} median {statistics.median(times) * 1000:6.1f} ms   "
              f"min {min(times) * 1000:6.1f} ms   max {max(times) * 1000:6.1f} ms   ({RUNS} runs)")
    goal = statistics.median(help_times) < 0.3
    print(f"goal: kpireport --help under 300 ms: {'met' if goal else 'NOT met'}")


if __name__ == "__main__":
    main()
