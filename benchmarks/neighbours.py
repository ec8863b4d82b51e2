"""Neighbour list and batch construction: asegen vs raw matscipy vs ASE.

Si diamond supercells (8-atom cubic cell repeated) at cutoffs 5 and 8 Å,
rattled by 0.01 Å. Each entry is the median of several repeats, in ms.
``asegen.graph`` = ``atoms_to_graph`` (neighbour list + tensors of one batch).

    python benchmarks/neighbours.py [--sizes 64 512 4096 32768] [--repeats 5]
"""

import argparse
import os
import platform
import statistics
import sys
import time

import torch
from ase.build import bulk
from ase.neighborlist import neighbor_list as ase_neighbor_list
from matscipy.neighbours import neighbour_list as matscipy_neighbour_list

from asegen.graph import atoms_to_graph, neighbor_list

REPEATS_FOR = {1: 1, 8: 2, 64: 5, 512: 5, 4096: 5}


def timed(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def silicon(n_atoms):
    k = round((n_atoms / 8) ** (1 / 3))
    atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat((k, k, k))
    atoms.rattle(0.01, seed=0)
    return atoms


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 512, 4096, 32768])
    parser.add_argument("--cutoffs", type=float, nargs="+", default=[5.0, 8.0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-ase-above", type=int, default=40000)
    args = parser.parse_args()
    torch.set_num_threads(1)

    print(f"command: python {' '.join(sys.argv)}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, torch {torch.__version__}"
    )
    print()
    print(
        "| atoms | cutoff Å | pairs | matscipy ms | asegen neighbor_list ms "
        "| asegen atoms_to_graph ms | ASE ms | graph / matscipy | ASE / graph |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        atoms = silicon(n)
        repeats = args.repeats if n <= 4096 else max(1, args.repeats // 2)
        for cutoff in args.cutoffs:
            pairs = len(matscipy_neighbour_list("i", atoms, cutoff))
            t_ms = timed(
                lambda a=atoms, c=cutoff: matscipy_neighbour_list("ijS", a, c), repeats
            )
            t_nl = timed(lambda a=atoms, c=cutoff: neighbor_list(a, c), repeats)
            t_graph = timed(lambda a=atoms, c=cutoff: atoms_to_graph(a, c), repeats)
            t_ase = None
            if n <= args.skip_ase_above:
                ase_repeats = repeats if n <= 512 else 1
                t_ase = timed(
                    lambda a=atoms, c=cutoff: ase_neighbor_list("ijS", a, c),
                    ase_repeats,
                )
            ase_ms = "–" if t_ase is None else f"{t_ase:.1f}"
            ase_ratio = "–" if t_ase is None else f"{t_ase / t_graph:.1f}x"
            print(
                f"| {len(atoms)} | {cutoff:g} | {pairs} | {t_ms:.2f} | {t_nl:.2f} "
                f"| {t_graph:.2f} | {ase_ms} | {t_graph / t_ms:.2f}x | {ase_ratio} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
