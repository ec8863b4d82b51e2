"""Build molecules atom by atom with a placer, and check them with RDKit.

Uses the bundled molecule placer (``qm9``) unless a run directory or
checkpoint is given, builds molecules, grows a fragment (methanol) into larger
ones, and prints validity, uniqueness and novelty from asegen's RDKit
evaluator (needs ``pip install "asegen[molecules]"``).

    python examples/place_molecules.py [MODEL] [-n 100] [--small]
"""

import argparse

from ase.build import molecule

import asegen
from asegen.evaluation import evaluate_molecules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "model", nargs="?", default="qm9", help="run, checkpoint or name"
    )
    parser.add_argument("-n", type=int, default=100, help="attempts")
    parser.add_argument("--small", action="store_true", help="8 attempts")
    args = parser.parse_args()
    n = 8 if args.small else args.n

    placer = asegen.load(args.model, device="cpu")
    molecules = placer.sample(n, max_n_atoms=35, seed=0)
    print(f"{len(molecules)} of {n} attempts finished")
    for atoms in molecules[:5]:
        print(f"  {atoms.get_chemical_formula():10s} {len(atoms)} atoms")

    fragment = molecule("CH3OH")
    grown = placer.sample(max(n // 4, 2), template=fragment, max_n_atoms=35, seed=1)
    kept = all(
        (a.positions[: len(fragment)] == fragment.positions).all() for a in grown
    )
    print(f"grown from CH3OH: {len(grown)} finished, fragment unchanged: {kept}")

    report = evaluate_molecules(molecules)
    print(report.table())


if __name__ == "__main__":
    main()
