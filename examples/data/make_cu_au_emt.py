"""Write the bundled Cu-Au dataset: 200 random fcc alloy cells labelled by EMT.

The recipe is the training-data protocol of the ALIGNN benchmarks
(``benchmarks/`` and docs/benchmarks.md), so the same frames serve the demo,
the tests and the side-by-side comparisons. Run from anywhere::

    python examples/data/make_cu_au_emt.py  # writes cu_au_emt.xyz next to this file
"""

from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

REPEATS = [(1, 1, 1), (2, 1, 1), (3, 1, 1), (2, 2, 1), (3, 2, 1), (2, 2, 2)]


def make_cell(rng: np.random.Generator):
    atoms = bulk("Cu", "fcc", a=3.615, cubic=True).repeat(REPEATS[rng.integers(6)])
    x = rng.uniform()
    gold = rng.uniform(size=len(atoms)) < x
    atoms.numbers[gold] = 79
    a = 3.615 + 0.463 * gold.mean()  # Vegard's law on the realised fraction
    atoms.set_cell(atoms.cell * (a / 3.615), scale_atoms=True)
    strain = rng.uniform(-0.03, 0.03, (3, 3))
    atoms.set_cell(
        atoms.cell @ (np.eye(3) + 0.5 * (strain + strain.T)), scale_atoms=True
    )
    sigma = rng.uniform(0.02, 0.12)
    atoms.positions += rng.normal(0.0, sigma, (len(atoms), 3))
    atoms.wrap()
    atoms.calc = EMT()
    results = {
        "energy": atoms.get_potential_energy(),
        "forces": atoms.get_forces(),
        "stress": atoms.get_stress(),
    }
    atoms.calc = SinglePointCalculator(atoms, **results)
    atoms.info["rattle_sigma"] = round(float(sigma), 6)
    return atoms


def main() -> None:
    rng = np.random.default_rng(0)
    images = [make_cell(rng) for _ in range(200)]
    out = Path(__file__).with_name("cu_au_emt.xyz")
    write(out, images, format="extxyz")
    print(f"wrote {len(images)} structures to {out}")


if __name__ == "__main__":
    main()
