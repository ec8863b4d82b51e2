"""Grow relaxed Pd-O seeds into a labelled dataset with the Augmenter, in Python.

The bundled Pd-O force field (``pdo``) labels everything: each seed of
``examples/data/pdo_seeds.xyz`` (bulk Pd, PdO, PdO2, an O-covered Pd(111)
slab whose fixed layers stay put, a Pd6O4 cluster) grows a family of rattled,
strained and briefly relaxed structures (augment-atoms' rattle-relax-repeat).
They are written to an asegen HDF5 file as they come and read back. The same
run as a config file is ``asegen augment examples/augment_demo.yaml``.

    python examples/augment_pdo.py [--out augmented.h5] [-n 20] [--small]
"""

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
from ase.io import read

from asegen import data
from asegen.augment import Augmenter
from asegen.calculators import ALIGNNCalculator

SEEDS = Path(__file__).parent / "data" / "pdo_seeds.xyz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("augmented.h5"))
    parser.add_argument("-n", type=int, default=20, help="structures per seed")
    parser.add_argument("--small", action="store_true", help="2 seeds, 4 each")
    args = parser.parse_args()
    seeds = read(SEEDS, ":")
    n = args.n
    if args.small:
        seeds, n = seeds[:2], 4

    augmenter = Augmenter(
        ALIGNNCalculator.load("pdo", device="cpu"),
        n_per_structure=n, T=500, beta=0.5, sigma_range=(0.02, 0.12),
        cell_sigma=0.02, seed=0,
    )  # fmt: skip
    count = data.write(args.out, augmenter.run(seeds))
    print(f"wrote {count} structures to {args.out}: {augmenter.stats.summary()}")

    families = defaultdict(list)
    for atoms in data.read(args.out):
        families[atoms.info["starting-structure"]].append(atoms)
    for start, members in sorted(families.items()):
        energies = [a.get_potential_energy() / len(a) for a in members]
        forces = max(np.abs(a.get_forces()).max() for a in members)
        name = seeds[start].info["system"]
        print(f"  {name:20s} {len(members):3d} structures, E "
              f"{min(energies):.3f}..{max(energies):.3f} eV/atom, "
              f"max |F| {forces:.2f} eV/Å")  # fmt: skip


if __name__ == "__main__":
    main()
