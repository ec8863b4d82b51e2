"""What ``asegen.tune_allocator()`` buys: time, page faults, memory.

One ``calculate_batch`` (energy, forces, stress) of the benchmark model
(random weights) repeated in a fresh process per system and setting, each
calling ``asegen.tune_allocator()`` before it imports torch: ``tuned``
(asegen's settings, see ``asegen._allocator``), ``glibc``
(``ASEGEN_TUNE_MALLOC=0 THP_MEM_ALLOC_ENABLE=1``: the C library's own
behaviour, huge pages still on) and ``heap32``
(``MALLOC_MMAP_THRESHOLD_=33554432``, every block up to glibc's limit from the
heap; huge pages on). Reports the median time per evaluation, minor page
faults and kernel time per evaluation, and peak resident memory.

    OMP_NUM_THREADS=1 python benchmarks/alignn/page_faults.py
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = {
    "tuned": {},
    "glibc": {"ASEGEN_TUNE_MALLOC": "0", "THP_MEM_ALLOC_ENABLE": "1"},
    "heap32": {
        "MALLOC_MMAP_THRESHOLD_": "33554432",
        "MALLOC_TRIM_THRESHOLD_": "1073741824",
    },
}
SYSTEMS = {"Cu32": ("Cu", 2), "Cu108": ("Cu", 3), "Si64": ("Si", 2),
           "Si512": ("Si", 4), "Cu500": ("Cu", 5), "Si4096": ("Si", 8)}  # fmt: skip


def measure(system: str, repeats: int) -> dict:
    """Time one evaluation ``repeats`` times in this process (after import)."""
    import asegen

    asegen.tune_allocator()  # before torch is imported, as a user's script does

    # isort: split
    import torch

    from asegen.calculators import ALIGNNCalculator
    from asegen.models.alignn import ALIGNN, config_from_alignn

    sys.path.insert(0, str(Path(__file__).parent))
    from _anchor_config import BENCHMARK_CONFIG
    from speed import crystal

    torch.manual_seed(0)
    config, _ = config_from_alignn(BENCHMARK_CONFIG)
    calc = ALIGNNCalculator(ALIGNN(config))
    atoms = crystal(*SYSTEMS[system])
    atoms.rattle(0.02, seed=1)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for _ in range(2):
        calc.calculate_batch([atoms])
    times = []
    start = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(repeats):
        tic = time.perf_counter()
        calc.calculate_batch([atoms])
        times.append(time.perf_counter() - tic)
    end = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "ms": 1000 * statistics.median(times),
        "faults": (end.ru_minflt - start.ru_minflt) / repeats,
        "sys_ms": 1000 * (end.ru_stime - start.ru_stime) / repeats,
        "peak_mb": end.ru_maxrss / 1024 - baseline,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS))
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker, args.repeats)))
        return
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    clean.pop("ASEGEN_TUNE_MALLOC", None)
    print(
        f"`python {' '.join(sys.argv)}` (OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, {os.cpu_count()} cores)\n"
    )
    print(
        "| system | setting | ms per evaluation | page faults | kernel ms | "
        "peak MB above baseline | vs glibc |"
    )
    print("|---|---|---|---|---|---|---|")
    for system in args.systems:
        rows = {}
        for name in args.settings:
            done = subprocess.run(
                [sys.executable, __file__, "--worker", system,
                 "--repeats", str(args.repeats)],
                capture_output=True, text=True, check=True,
                env={**clean, **SETTINGS[name]},
            )  # fmt: skip
            rows[name] = json.loads(done.stdout.splitlines()[-1])
        for name, row in rows.items():
            ratio = rows["glibc"]["ms"] / row["ms"] if "glibc" in rows else float("nan")
            print(
                f"| {system} | {name} | {row['ms']:.1f} | {row['faults']:.0f} | "
                f"{row['sys_ms']:.1f} | {row['peak_mb']:.0f} | {ratio:.2f}x |"
            )


if __name__ == "__main__":
    main()
