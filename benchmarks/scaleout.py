"""Executors against one process: time and identity of the structures.

The same augmentation (EMT, strained rattled fcc Cu cells, one family per
cell) and the same sampling with the bundled Pd-O generator ``pdo-bulk``
run in this process, in a spawn process pool and on a local Dask cluster
(``pip install asegen[dask]``), each with ``--workers`` workers of one
thread; every run's structures are compared with the one-process run's
(numbers, positions, cells exactly). The pool and cluster are started
before the clock starts; pickling the calculator or generator is counted.

    python benchmarks/scaleout.py --workers 2
    python benchmarks/scaleout.py --workers 8 --families 64 --samples 256
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")  # equal threads: equal floats


def cells(n: int) -> list:
    """``n`` strained, rattled 32-atom fcc Cu cells."""
    from ase.build import bulk

    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
        strain = np.eye(3) + rng.uniform(-0.01, 0.01, (3, 3))
        atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
        atoms.positions += rng.normal(0.0, 0.03, atoms.positions.shape)
        out.append(atoms)
    return out


def same(first: list, second: list) -> bool:
    """Whether two runs made the same structures, in the same order."""
    return len(first) == len(second) and all(
        np.array_equal(a.numbers, b.numbers)
        and np.array_equal(a.positions, b.positions)
        and np.array_equal(a.cell.array, b.cell.array)
        for a, b in zip(first, second, strict=True)
    )


def main() -> None:
    """Time the two jobs on every executor and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--families", type=int, default=16)
    parser.add_argument("--size", type=int, default=8, help="n_per_structure")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()

    from ase.calculators.emt import EMT

    from asegen import Augmenter, DiffusionGenerator

    inputs = cells(args.families)
    settings = {"n_per_structure": args.size, "seed": 0, "max_relax_steps": 5}
    generator = DiffusionGenerator.load("pdo-bulk", device="cpu")
    request = {
        "formula": "Pd4O4",
        "seed": 1,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "progress": False,
    }
    jobs = {
        "augment": lambda executor: list(
            Augmenter(EMT(), **settings).run(inputs, executor=executor)
        ),
        "sample": lambda executor: generator.sample(
            args.samples, **request, executor=executor
        ),
    }
    executors = {"one process": lambda: None}
    spawn = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(args.workers, mp_context=spawn)
    list(pool.map(abs, range(args.workers)))  # started before timing
    executors["process pool"] = lambda: pool
    try:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=args.workers, threads_per_worker=1, dashboard_address=None
        )
        client = Client(cluster)
        executors["dask cluster"] = client.get_executor
    except ImportError:
        client = None
    print(
        f"{platform.node()}: {os.cpu_count()} cores, {args.workers} workers; "
        f"augment {args.families} families x {args.size} (EMT, Cu32), sample "
        f"{args.samples} Pd4O4 with pdo-bulk ({args.steps} steps, batches of "
        f"{args.batch_size})"
    )
    print("| job | executor | seconds | speed-up | same structures |")
    print("|---|---|---|---|---|")
    for name, job in jobs.items():
        reference, serial = None, None
        for label, make in executors.items():
            executor = make()
            job(executor)  # warm: workers unpickle and import once
            start = time.perf_counter()
            made = job(executor)
            seconds = time.perf_counter() - start
            if reference is None:
                reference, serial = made, seconds
            print(
                f"| {name} | {label} | {seconds:.2f} | {serial / seconds:.2f} | "
                f"{same(made, reference)} |"
            )
    pool.shutdown()
    if client is not None:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
