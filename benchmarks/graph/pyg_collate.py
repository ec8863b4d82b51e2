"""Batching 64 graphs of 32 atoms: asegen's batch_graphs vs torch-geometric's collate.

The numbers behind docs/design.md ("Graphs"). 64 rattled 32-atom Cu cells
(2x2x2 cubic fcc), 5 Å cutoff (about 1,400 edges each, float32). Each entry
is the median over ``--repeats`` repeats, in ms, on one thread:

- ``asegen batch_graphs``: concatenating 64 single-structure ``AtomsGraph``;
- ``pyg collate (Data)``: ``Batch.from_data_list`` of 64 plain ``Data`` with
  the same tensors (z, pos, cell, edge_index, shifts, y, forces, stress);
- ``pyg collate (AtomsData)``: the same for ``asegen.graph.to_pyg`` items;
- ``to_pyg`` / ``from_pyg`` of the 64-structure graph.

Import times are medians over fresh interpreters: ``torch`` alone, and what
``asegen.graph`` and ``torch_geometric`` add once torch is imported.

    OMP_NUM_THREADS=1 python benchmarks/graph/pyg_collate.py [--repeats 21]
"""

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

import torch
from ase.build import bulk
from torch_geometric.data import Batch, Data

sys.path.insert(0, str(Path(__file__).parents[1]))
from _timing import median_ms

from asegen.graph import atoms_to_graph, batch_graphs, from_pyg, to_pyg

IMPORT_AFTER_TORCH = """
import time, torch
start = time.perf_counter()
import {module}
print(time.perf_counter() - start)
"""


def graphs(n_graphs=64):
    parts = []
    for k in range(n_graphs):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))
        atoms.rattle(0.05, seed=k)
        parts.append(atoms_to_graph(atoms, cutoff=5.0, dtype=torch.float32))
    return parts


def plain_data(graph):
    return Data(
        z=graph.numbers,
        pos=graph.positions,
        cell=graph.cell,
        edge_index=graph.edge_index,
        shifts=graph.shifts,
        y=torch.zeros(1),
        forces=torch.zeros_like(graph.positions),
        stress=torch.zeros(1, 3, 3),
    )


def import_seconds(code, repeats):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            ).stdout.splitlines()[-1]
        )
        for _ in range(repeats)
    ]
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--import-repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)

    parts = graphs()
    plain = [plain_data(part) for part in parts]
    pyg_items = [to_pyg(part) for part in parts]
    batch = batch_graphs(parts)
    converted = to_pyg(batch)
    rows = {
        "asegen batch_graphs": lambda: batch_graphs(parts),
        "pyg collate (Data)": lambda: Batch.from_data_list(plain),
        "pyg collate (AtomsData)": lambda: Batch.from_data_list(pyg_items),
        "to_pyg (64 structures)": lambda: to_pyg(batch),
        "from_pyg (64 structures)": lambda: from_pyg(converted),
    }
    print(f"64 graphs of 32 atoms, {batch.n_edges} edges; median of {args.repeats}")
    for name, fn in rows.items():
        print(f"{name:28s} {median_ms(fn, args.repeats):8.2f} ms")

    print(f"imports, median of {args.import_repeats} fresh interpreters")
    torch_alone = import_seconds(
        "import time; s = time.perf_counter(); import torch; "
        "print(time.perf_counter() - s)",
        args.import_repeats,
    )
    print(f"{'import torch':28s} {torch_alone:8.2f} s")
    for module in ("asegen.graph", "torch_geometric"):
        seconds = import_seconds(
            IMPORT_AFTER_TORCH.format(module=module), args.import_repeats
        )
        print(f"{'+ import ' + module:28s} {seconds:8.2f} s")


if __name__ == "__main__":
    main()
