"""Timing shared by the benchmark scripts."""

import statistics
import time


def median_ms(fn, repeats=5):
    """Median wall time of ``fn()`` in ms over ``repeats`` calls, after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3
