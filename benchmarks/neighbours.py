"""Neighbour list and batch construction: asegen vs raw matscipy vs ASE.

Si diamond supercells (8-atom cubic cell repeated) at cutoffs 5 and 8 Å,
rattled by 0.01 Å. Each entry is the median of several repeats, in ms.
``asegen.graph`` = ``atoms_to_graph`` (neighbour list plus tensors of one
batch); ``torch`` = ``torch_neighbor_list`` on ``--device`` (positions already
there; CUDA timings synchronise), with its peak working memory measured in a
fresh process: resident-set peak over the resident set before the call on the
CPU (Linux), allocated-memory growth on CUDA.

    python benchmarks/neighbours.py [--sizes 64 512 4096 32768] [--repeats 5]
    python benchmarks/neighbours.py --device cuda --sizes 4096 32768 110592
"""

import argparse
import os
import platform
import subprocess
import sys

import torch
from _timing import median_ms
from ase.build import bulk
from ase.neighborlist import neighbor_list as ase_neighbor_list
from matscipy.neighbours import neighbour_list as matscipy_neighbour_list

from asegen.graph import atoms_to_graph, neighbor_list, torch_neighbor_list

REPEATS_FOR = {1: 1, 8: 2, 64: 5, 512: 5, 4096: 5}


def silicon(n_atoms):
    k = round((n_atoms / 8) ** (1 / 3))
    atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat((k, k, k))
    atoms.rattle(0.01, seed=0)
    return atoms


def torch_search(atoms, cutoff, device):
    """Return a call of torch_neighbor_list on tensors already on ``device``."""
    positions = torch.tensor(atoms.positions, device=device)
    cell = torch.tensor(atoms.cell.array, device=device)

    def run():
        out = torch_neighbor_list(positions, cell, atoms.pbc, cutoff)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return out

    return run


def peak_memory_mb(n, cutoff, device):
    """Peak memory of one torch search beyond its inputs, MB (this process)."""
    torch_search(silicon(8), cutoff, device)()  # load code and kernels first
    run = torch_search(silicon(n), cutoff, device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        run()
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    before = memory_kb("VmRSS")  # resident now
    run()
    return (memory_kb("VmHWM") - before) / 2**10  # resident peak since start


def memory_kb(field):
    """A memory figure of this process from /proc (Linux), kB."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1])


def peak_memory_in_child(n, cutoff, device):
    """Run :func:`peak_memory_mb` in a fresh process (peaks never go down)."""
    command = [sys.executable, __file__, "--peak", str(n), str(cutoff)]
    command += ["--device", str(device)]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 512, 4096, 32768])
    parser.add_argument("--cutoffs", type=float, nargs="+", default=[5.0, 8.0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-ase-above", type=int, default=40000)
    parser.add_argument("--device", default="cpu", help="device of the torch search")
    parser.add_argument("--peak", nargs=2, type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    device = torch.device(args.device)
    if args.peak:  # child process of peak_memory_in_child
        print(peak_memory_mb(int(args.peak[0]), args.peak[1], device))
        return

    print(f"command: python {' '.join(sys.argv)}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"torch search on {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
    )
    print()
    print(
        "| atoms | cutoff Å | pairs | matscipy ms | asegen neighbor_list ms "
        "| asegen atoms_to_graph ms | torch ms | torch peak MB | ASE ms "
        "| graph / matscipy | torch / neighbor_list | ASE / graph |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        atoms = silicon(n)
        repeats = args.repeats if n <= 4096 else max(1, args.repeats // 2)
        for cutoff in args.cutoffs:
            pairs = len(matscipy_neighbour_list("i", atoms, cutoff))
            t_ms = median_ms(
                lambda a=atoms, c=cutoff: matscipy_neighbour_list("ijS", a, c), repeats
            )
            t_nl = median_ms(lambda a=atoms, c=cutoff: neighbor_list(a, c), repeats)
            t_graph = median_ms(lambda a=atoms, c=cutoff: atoms_to_graph(a, c), repeats)
            t_torch = median_ms(torch_search(atoms, cutoff, device), repeats)
            peak = peak_memory_in_child(len(atoms), cutoff, device)
            t_ase = None
            if n <= args.skip_ase_above:
                ase_repeats = repeats if n <= 512 else 1
                t_ase = median_ms(
                    lambda a=atoms, c=cutoff: ase_neighbor_list("ijS", a, c),
                    ase_repeats,
                )
            ase_ms = "–" if t_ase is None else f"{t_ase:.1f}"
            ase_ratio = "–" if t_ase is None else f"{t_ase / t_graph:.1f}x"
            print(
                f"| {len(atoms)} | {cutoff:g} | {pairs} | {t_ms:.2f} | {t_nl:.2f} "
                f"| {t_graph:.2f} | {t_torch:.2f} | {peak:.0f} | {ase_ms} "
                f"| {t_graph / t_ms:.2f}x | {t_torch / t_nl:.2f}x | {ase_ratio} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
