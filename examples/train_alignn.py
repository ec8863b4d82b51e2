"""Train a small ALIGNN force field on the bundled Pd-O set, from Python.

The bundled Pd-O dataset (``examples/data/pdo``, CHGNet labels: energy,
forces, stress) comes split into train, validation and test files. This
script trains a small ALIGNN-FF on its bulk structures with the Python API
(``asegen.train.train``: the engine behind ``asegen train alignn``), loads
the best checkpoint as an ASE calculator and reports its energy and force
errors on the held-out bulk test structures. The run directory holds
``metrics.csv``, checkpoints and parity plots.

    python examples/train_alignn.py [--out logs] [--epochs 15] [--small]
"""

import argparse
from pathlib import Path

import numpy as np

from asegen import data
from asegen.calculators import ALIGNNCalculator
from asegen.models import ALIGNN, ALIGNNConfig
from asegen.train import LossWeights, PotentialConfig, TrainConfig, train

DATA = Path(__file__).parent / "data" / "pdo"


def bulk(split, n):
    """``n`` bulk structures of one split of the bundled set, spread over it.

    The files hold families one after the other (Pd, PdO, PdO2, ...), so
    every k-th structure covers all of them.
    """
    images = data.read(DATA / f"pdo_{split}.h5")
    kept = [a for a in images if a.info.get("kind") == "bulk"]
    return kept[:: max(1, len(kept) // n)][:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("logs"))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--small", action="store_true", help="2 epochs, 32 structures")
    args = parser.parse_args()
    n, epochs = (32, 2) if args.small else (96, args.epochs)

    model = ALIGNN(
        ALIGNNConfig(
            cutoff=4.5, three_body_cutoff=3.0, hidden_features=32,
            embedding_features=32, alignn_layers=1, gcn_layers=1,
        )
    )  # fmt: skip
    run = train(
        model,
        bulk("train", n),
        val_structures=bulk("val", n // 4),
        config=TrainConfig(
            epochs=epochs, batch_size=8, learning_rate=3e-3, n_test=0, seed=0
        ),
        task=PotentialConfig(weights=LossWeights(energy=1.0, forces=1.0, stress=0.1)),
        out=args.out,
        progress=False,
    )
    print(f"trained {epochs} epochs: {run}")

    calc = ALIGNNCalculator.load(run, device="cpu")
    energy_errors, force_errors = [], []
    for atoms in bulk("test", n // 4):
        reference_energy = atoms.get_potential_energy() / len(atoms)
        reference_forces = atoms.get_forces()
        atoms.calc = calc
        energy_errors.append(
            abs(atoms.get_potential_energy() / len(atoms) - reference_energy)
        )
        force_errors.append(np.abs(atoms.get_forces() - reference_forces).mean())
    print(f"held-out bulk test, {len(energy_errors)} structures: energy MAE "
          f"{1000 * np.mean(energy_errors):.1f} meV/atom, force MAE "
          f"{1000 * np.mean(force_errors):.0f} meV/Å")  # fmt: skip


if __name__ == "__main__":
    main()
