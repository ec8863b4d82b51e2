"""Generate Pd4O4 crystals with the bundled diffusion model, relax and evaluate them.

``DiffusionGenerator.load("pdo-bulk")`` is the Pd-O bulk generator bundled
with asegen (briefly trained; ``asegen info pdo-bulk`` prints its card). It
samples cells and positions for the exact composition Pd4O4; each sample is
relaxed with the bundled force field ``pdo`` (``FixAtoms`` respected, cell
fixed) and scored against the bulk structures of the bundled Pd-O training
set: validity, uniqueness, novelty, energies against the reference hull.
The command line does the same: ``asegen sample --formula Pd4O4 -n 8 -o
pdo.xyz`` then ``asegen evaluate``.

    python examples/sample_pdo.py [-n 8] [--small]
"""

import argparse
from pathlib import Path

from asegen import data
from asegen.calculators import ALIGNNCalculator
from asegen.diffusion import DiffusionGenerator
from asegen.evaluation import evaluate

TRAIN = Path(__file__).parent / "data" / "pdo" / "pdo_train.h5"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=8, help="samples")
    parser.add_argument("--small", action="store_true", help="2 samples, 20 steps")
    args = parser.parse_args()
    n, steps, relax_steps = (2, 20, 20) if args.small else (args.n, 100, 200)

    generator = DiffusionGenerator.load("pdo-bulk", device="cpu")
    samples = generator.sample(n, formula="Pd4O4", steps=steps, seed=0)
    for atoms in samples:
        a, b, c, alpha, beta, gamma = atoms.cell.cellpar()
        print(f"{atoms.get_chemical_formula()}: cell {a:.2f} {b:.2f} {c:.2f} Å, "
              f"{alpha:.0f} {beta:.0f} {gamma:.0f} deg, "
              f"{atoms.get_volume() / len(atoms):.1f} Å³/atom")  # fmt: skip

    bulk = [a for a in data.read(TRAIN) if a.info.get("kind") == "bulk"]
    report = evaluate(
        samples, bulk, calculator=ALIGNNCalculator.load("pdo", device="cpu"),
        relax_steps=relax_steps, formula="Pd4O4",
    )  # fmt: skip
    print(f"against {len(bulk)} bulk training structures, relaxed with pdo:")
    print(report.table())


if __name__ == "__main__":
    main()
