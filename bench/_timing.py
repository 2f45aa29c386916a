"""What the benchmarks share: the wall-clock seconds of running a function several times."""

from __future__ import annotations

import time
from collections.abc import Callable


def timings(function: Callable[[], object], runs: int) -> list[float]:
    """Seconds of each of `runs` calls of `function`."""
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return seconds
