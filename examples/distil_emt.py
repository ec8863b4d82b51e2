"""Distil a teacher calculator (ASE's EMT) into a small ALIGNN force field.

``asegen.distil.distil`` is ``asegen distil`` in Python: the Augmenter grows
the seeds (bulk Cu, Au and Cu3Au) with the teacher's labels, the structures
are split by family branch, an ALIGNN student trains on them and is checked
against the teacher on the held-out split and by short NVE runs
(``OUT/REPORT.md``). The student then meets a structure it has not seen.
Running the script again does nothing new: every stage is complete.

    python examples/distil_emt.py [--out emt-student] [--small]
"""

import argparse
from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write

from asegen.calculators import ALIGNNCalculator
from asegen.distil import distil


def seeds():
    """Bulk Cu, bulk Au (two primitive cells) and L1_2 Cu3Au."""
    cu3au = bulk("Cu", "fcc", a=3.75, cubic=True)
    cu3au.symbols[0] = "Au"
    return [
        bulk("Cu", "fcc", a=3.6, cubic=True),
        bulk("Au", "fcc", a=4.08) * (2, 1, 1),
        cu3au,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("emt-student"))
    parser.add_argument("--small", action="store_true", help="a tiny, brief student")
    args = parser.parse_args()
    config = {
        "structures": 90,
        "model": {"hidden_features": 32, "embedding_features": 32,
                  "alignn_layers": 1, "gcn_layers": 1},
        "train": {"epochs": 40, "max_minutes": 0.4},
        "md": {"steps": 100},
    }  # fmt: skip
    if args.small:
        config |= {
            "structures": 24,
            "model": {"hidden_features": 8, "embedding_features": 8,
                      "alignn_layers": 1, "gcn_layers": 1},
            "train": {"epochs": 2},
            "md": {"steps": 10},
        }  # fmt: skip
    seeds_file = args.out.with_name(f"{args.out.name}-seeds.xyz")
    write(seeds_file, seeds())

    result = distil("+ase.calculators.emt.EMT()", seeds_file, args.out, config=config)
    print(result.summary)

    student = ALIGNNCalculator.load(result.run, device="cpu")
    unseen = bulk("Cu", "fcc", a=3.7, cubic=True) * (2, 1, 1)
    unseen.symbols[[0, 5]] = "Au"
    unseen.rattle(0.05, seed=3)
    energy, forces = [], []
    for calc in (student, EMT()):
        atoms = unseen.copy()
        atoms.calc = calc
        energy.append(atoms.get_potential_energy() / len(atoms))
        forces.append(atoms.get_forces())
    print(
        f"student vs EMT on an unseen Cu6Au2: energy error "
        f"{1000 * abs(energy[0] - energy[1]):.1f} meV/atom, largest force error "
        f"{np.abs(forces[0] - forces[1]).max():.3f} eV/Å"
    )


if __name__ == "__main__":
    main()
