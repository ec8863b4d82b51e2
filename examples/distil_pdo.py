"""Distil a force field into a smaller, faster one for your structures.

``asegen.distil.distil`` is ``asegen distil TEACHER SEEDS --out DIR`` in
Python: the teacher (any ASE calculator or calculator spec; CHGNet in real
use) labels structures the Augmenter grows from the seeds, a small ALIGNN
force field (the student) is trained on them, and it is checked against the
teacher on held-out structures and by short NVE runs from every seed. Here
the teacher is the bundled Pd-O force field ``pdo`` (no download), the
seeds are ``examples/data/pdo_seeds.xyz``, and the student is a quarter of
its width. Rerunning with the same folder resumes, or does nothing once
finished.

    python examples/distil_pdo.py [--out pdo-student] [--small]
"""

import argparse
import time
from pathlib import Path

from ase.io import read

from asegen.calculators import ALIGNNCalculator
from asegen.distil import distil

SEEDS = Path(__file__).parent / "data" / "pdo_seeds.xyz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("pdo-student"))
    parser.add_argument("--small", action="store_true", help="40 structures, 3 epochs")
    args = parser.parse_args()
    structures, epochs, md_steps = (40, 3, 20) if args.small else (120, 20, 100)

    teacher = ALIGNNCalculator.load("pdo", device="cpu")
    settings = {
        "structures": structures,
        "model": {"hidden_features": 16, "embedding_features": 16,
                  "alignn_layers": 1, "gcn_layers": 1},
        "train": {"epochs": epochs, "batch_size": 8},
        "md": {"steps": md_steps},
    }  # fmt: skip
    result = distil(teacher, SEEDS, args.out, config=settings, progress=False)
    print(f"stages run now: {', '.join(result.ran) or 'none, finished already'}")
    print(result.summary)

    student = ALIGNNCalculator.load(result.run, device="cpu")
    atoms = next(a for a in read(SEEDS, ":") if a.info["system"] == "PdO-2x2x1")
    speeds = {}
    for name, calc in (("teacher", teacher), ("student", student)):
        atoms.calc = calc
        atoms.rattle(0.01, seed=len(speeds))  # a new geometry: no cached result
        atoms.get_forces()
        start = time.perf_counter()
        for k in range(10):
            atoms.rattle(0.001, seed=k)
            atoms.get_forces()
        speeds[name] = (time.perf_counter() - start) / 10
        energy = atoms.get_potential_energy() / len(atoms)
        print(f"{name}: {energy:.3f} eV/atom on rattled PdO, "
              f"{1000 * speeds[name]:.1f} ms per energy and forces")  # fmt: skip
    print(f"the student is {speeds['teacher'] / speeds['student']:.1f}x faster")


if __name__ == "__main__":
    main()
