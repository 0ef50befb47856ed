"""Small timing helpers shared by the benchmark scripts (medians of repeats)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def timeit(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Median wall time of ``fn`` over ``repeat`` runs, and its last result."""
    times = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def row(name: str, seconds: float, baseline: float | None = None, extra: str = "") -> str:
    """One aligned output line: name, seconds, ratio to the baseline."""
    ratio = f"{seconds / baseline:8.2f}× baseline" if baseline else " " * 17
    return f"{name:52s} {seconds:9.3f} s  {ratio}  {extra}"
