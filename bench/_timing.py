"""What the benchmarks share: the wall-clock and CPU seconds of running a function several times."""

from __future__ import annotations

import time
from collections.abc import Callable


def timings(function: Callable[[], object], runs: int) -> list[float]:
    """Seconds of each of `runs` calls of `function`."""
    return [wall for wall, _ in wall_and_cpu(function, runs)]


def wall_and_cpu(function: Callable[[], object], runs: int) -> list[tuple[float, float]]:
    """Wall and CPU seconds (this process's) of each of `runs` calls of `function`: on a machine
    other work shares, the CPU time is the steadier figure."""
    seconds = []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        function()
        seconds.append((time.perf_counter() - start, time.process_time() - cpu))
    return seconds
