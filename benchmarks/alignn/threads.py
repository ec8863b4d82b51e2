"""Thread pools in a relaxation: BFGS + FrechetCellFilter with an ALIGNN calculator.

ASE's cell filter and BFGS call numpy and scipy (OpenBLAS threads) between
the model's torch evaluations (OpenMP threads). OpenBLAS spreads those small
problems (eigh of the 105 x 105 Hessian, 3 x 3 matrix functions) over a
thread per core; on a busy machine each call waits for a worker that lost its
core, and a torch thread per core waits likewise inside the model. This runs the
same relaxation (a rattled, strained 32-atom Cu-Au cell, the benchmark
ALIGNN model with random weights, ``--steps`` BFGS steps) in a fresh process
per setting:

``pools``
    ``threads=None, blas_threads=None``: the calculator leaves both pools
    alone, and torch and OpenBLAS run one thread per core (asegen before
    ``threads="auto"``).
``pools-blas1``
    the same with ``OPENBLAS_NUM_THREADS=1`` set before Python starts.
``torch1``
    ``threads="auto", blas_threads=None``: one torch thread for evaluations
    of fewer than 128 atoms, numpy's pools left alone (asegen before
    ``blas_threads="auto"``).
``auto``
    the calculator's defaults, nothing set in the environment: one torch
    thread per small evaluation, and numpy's and scipy's BLAS pools held at
    one thread while the calculator lives.
``omp1``
    ``OMP_NUM_THREADS=1``: both pools single-threaded for the whole process.

and reports the seconds per BFGS step (median of ``--repeats`` processes),
split into the model's evaluations and the rest (ASE's numpy and scipy).

    python benchmarks/alignn/threads.py [--steps 30] [--repeats 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = {
    "pools": {"ASEGEN_BENCH_THREADS": "none"},
    "pools-blas1": {"ASEGEN_BENCH_THREADS": "none", "OPENBLAS_NUM_THREADS": "1"},
    "torch1": {"ASEGEN_BENCH_THREADS": "torch"},
    "auto": {},
    "omp1": {"OMP_NUM_THREADS": "1"},
}
POOL_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
)


def measure(steps: int) -> dict:
    """Relax once in this process; time per step and in the model."""
    import asegen

    asegen.tune_allocator()

    # isort: split
    import numpy as np
    import torch
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    from asegen.calculators import ALIGNNCalculator
    from asegen.models.alignn import ALIGNN, config_from_alignn

    sys.path.insert(0, str(Path(__file__).parent))
    from _anchor_config import BENCHMARK_CONFIG
    from speed import crystal

    torch.manual_seed(0)
    config, _ = config_from_alignn(BENCHMARK_CONFIG)
    chosen = os.environ.get("ASEGEN_BENCH_THREADS")
    calc = ALIGNNCalculator(
        ALIGNN(config),
        threads=None if chosen == "none" else "auto",
        blas_threads="auto" if chosen is None else None,
    )
    atoms = crystal("Cu", 2)
    atoms.symbols[::2] = "Au"
    atoms.rattle(0.05, seed=1)
    atoms.set_cell(atoms.cell * 1.02, scale_atoms=True)
    atoms.calc = calc
    model_seconds = []
    evaluate = calc.calculate

    def timed(*args, **kwargs):
        tic = time.perf_counter()
        evaluate(*args, **kwargs)
        model_seconds.append(time.perf_counter() - tic)

    calc.calculate = timed
    atoms.get_potential_energy()  # warm-up outside the timing
    tic = time.perf_counter()
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-6, steps=steps)
    total = time.perf_counter() - tic
    model = sum(model_seconds[1:])
    return {
        "s_per_step": total / steps,
        "model_s_per_step": model / steps,
        "other_s_per_step": (total - model) / steps,
        "energy": float(np.asarray(atoms.get_potential_energy())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.steps)))
        return
    base = {k: v for k, v in os.environ.items() if k not in POOL_VARIABLES}
    results: dict[str, list[dict]] = {name: [] for name in args.settings}
    for _ in range(args.repeats):  # alternate the settings
        for name in args.settings:
            command = [sys.executable, __file__, "--child", "--steps", str(args.steps)]
            done = subprocess.run(
                command, env={**base, **SETTINGS[name]}, capture_output=True,
                text=True, check=True,
            )  # fmt: skip
            results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    print("| setting | s per BFGS step (median, spread) | model s | other s |")
    print("|---|---|---|---|")
    for name, runs in results.items():
        times = [r["s_per_step"] for r in runs]
        model = statistics.median(r["model_s_per_step"] for r in runs)
        other = statistics.median(r["other_s_per_step"] for r in runs)
        print(
            f"| {name} | {statistics.median(times):.4f} "
            f"({min(times):.4f}-{max(times):.4f}) | {model:.4f} | {other:.4f} |"
        )
    if "auto" in results and "torch1" in results:  # paired, process by process
        ratios = [
            a["s_per_step"] / b["s_per_step"]
            for a, b in zip(results["torch1"], results["auto"], strict=True)
        ]
        print(
            f"torch1 / auto per pair: median {statistics.median(ratios):.2f} "
            f"({min(ratios):.2f}-{max(ratios):.2f})"
        )


if __name__ == "__main__":
    main()
