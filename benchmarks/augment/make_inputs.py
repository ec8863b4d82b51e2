"""Write the benchmark inputs: strained, rattled fcc Cu supercells (a = 3.61 Å).

Each cell gets a 1 % random cell strain (atoms scaled) and a 0.03 Å Gaussian
rattle, as in the spec of augment-atoms (section 5):

    python benchmarks/augment/make_inputs.py OUT_FOLDER

writes cu32_seeds.xyz (10 cells of 32 atoms), cu108_seeds.xyz (3 × 108),
cu500_seeds.xyz (2 × 500) and cu32_single.xyz (1 × 32, for batching), and
ljmol_seeds.xyz: 10 molecules of 4–11 atoms from ASE's g2 set, rattled by
0.03 Å (the anchor's LJ-mol case: small molecules under ``+lennard_jones()``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import ase.io
import numpy as np
from ase.build import bulk

SETS = {"cu32": (2, 10), "cu108": (3, 3), "cu500": (5, 2)}


def cells(repeat, count, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((repeat,) * 3)
        strain = np.eye(3) + rng.uniform(-0.01, 0.01, (3, 3))
        atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
        atoms.positions += rng.normal(0.0, 0.03, atoms.positions.shape)
        frames.append(atoms)
    return frames


def molecules(count=10, seed=0):
    """The first ``count`` g2 molecules of 4–11 atoms by name, rattled by 0.03 Å."""
    from ase.collections import g2

    rng = np.random.default_rng(seed)
    names = sorted(name for name in g2.names if 4 <= len(g2[name]) <= 11)
    frames = []
    for name in names[:count]:
        atoms = g2[name]
        atoms.positions += rng.normal(0.0, 0.03, atoms.positions.shape)
        frames.append(atoms)
    return frames


def main(folder):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, (repeat, count) in SETS.items():
        ase.io.write(folder / f"{name}_seeds.xyz", cells(repeat, count))
    ase.io.write(folder / "ljmol_seeds.xyz", molecules())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
