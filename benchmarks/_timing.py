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


def median_wall_cpu_ms(fn, repeats=5):
    """Median wall and process CPU time of ``fn()`` in ms, after one warm-up.

    On a shared machine the CPU time of a one-thread process is not inflated
    by waiting for a core, as its wall time is.
    """
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
    return statistics.median(wall) * 1e3, statistics.median(cpu) * 1e3
