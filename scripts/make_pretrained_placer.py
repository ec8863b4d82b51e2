"""Train the bundled molecule placer (``asegen.pretrained`` name ``qm9``).

    .venv/bin/python scripts/make_pretrained_placer.py --minutes 20

Trains asegen's placer on the bundled QM9 molecules
(``examples/data/molecules``: 1,200 training and 150 validation molecules of
up to 9 heavy atoms), keeps the weights of the best validation epoch, and
writes ``asegen/pretrained/qm9/model.pt`` (weights and hyper-parameters only)
and ``card.json``: the data, the budget, the held-out losses on the 150 test
molecules and the RDKit evaluation (``asegen.evaluation.evaluate_molecules``,
default options) of ``--samples`` generated attempts against the training
molecules. Deterministic for a given ``--seed`` and thread count.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "data" / "molecules"
TARGET = ROOT / "asegen" / "pretrained" / "qm9"

#: The network: the anchor's QM9 settings with 6 interactions instead of 9,
#: so that the bundled file stays under 5 MB.
MODEL = {"n_interactions": 6}


def main() -> None:
    """Train, evaluate and write the bundled model and its card."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="training budget")
    parser.add_argument("--epochs", type=int, default=200, help="at most")
    parser.add_argument("--samples", type=int, default=200, help="attempts evaluated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=TARGET)
    args = parser.parse_args()

    import torch

    from asegen.data import read_structures
    from asegen.evaluation import evaluate_molecules
    from asegen.models.checkpoint import load_checkpoint, save_checkpoint
    from asegen.placer import AutoregressivePlacer
    from asegen.train.runner import train_from_config

    torch.set_num_threads(1)
    config = {
        "model": MODEL,
        "train": {
            "epochs": args.epochs,
            "batch_size": 50,
            "learning_rate": 5e-4,
            "seed": args.seed,
            "max_minutes": args.minutes,
            "scheduler": "none",
        },
        "placer": {"draw_random_samples": 10},
    }
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        run = train_from_config(
            "gschnet",
            config,
            data=DATA / "molecules_train.h5",
            val=DATA / "molecules_val.h5",
            out=workdir,
            progress=False,
        )
        minutes = (time.perf_counter() - start) / 60
        model, payload = load_checkpoint(run)
        lines = (run / "metrics.csv").read_text().splitlines()
        epochs = len(lines) - 1
        args.out.mkdir(parents=True, exist_ok=True)
        save_checkpoint(args.out / "model.pt", model)
    test_set = read_structures(DATA / "molecules_test.h5")
    test = held_out_losses(model, test_set, args.seed)
    placer = AutoregressivePlacer(model, device="cpu")
    samples = placer.sample(
        args.samples, batch_size=100, max_n_atoms=35, seed=args.seed
    )
    train = list(read_structures(DATA / "molecules_train.h5"))
    report = evaluate_molecules(samples, reference=train)
    quality = {
        m.label: round(m.value, 4) for m in report.metrics() if m.value is not None
    }
    card = {
        "kind": "placer",
        "summary": "cG-SchNet placer for small organic molecules (H, C, N, O, F; "
        "up to 9 heavy atoms, QM9)",
        "data": "examples/data/molecules: 1,200 training (6 with disconnected "
        "placement graphs left out), 150 validation QM9 molecules (RDKit ETKDGv3 "
        "+ MMFF94 geometries; scripts/make_molecules.py)",
        "budget": f"{epochs} epochs, {minutes:.1f} min on 1 CPU thread; kept epoch "
        f"{int(payload.get('epoch', 0)) + 1} (best validation loss)",
        "command": "scripts/make_pretrained_placer.py "
        f"--minutes {args.minutes} --seed {args.seed}",
        "metrics": {
            "test type loss (nats)": round(test["type_loss"], 4),
            "test distance loss (nats)": round(test["distance_loss"], 4),
            **{
                f"{label}, {len(samples)} finished molecules": value
                for label, value in quality.items()
            },
            "finished attempts": f"{len(samples)} of {args.samples}",
        },
    }
    (args.out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card, indent=2))


def held_out_losses(model: object, structures: list, seed: int) -> dict[str, float]:
    """Mean test losses over the partial structures of the test molecules."""
    import torch

    from asegen.graph import batch_graphs
    from asegen.placer import PlacerConfig, PlacerTask

    task = PlacerTask(model, PlacerConfig(), seed=seed)
    items = task.items(structures, range(len(structures)), split="test")
    totals = {"type_loss": 0.0, "distance_loss": 0.0}
    for first in range(0, len(items), 100):
        graphs = [items[(0, k)] for k in range(first, min(first + 100, len(items)))]
        batch = batch_graphs(graphs).to(dtype=torch.float32)
        with torch.no_grad():
            _, metrics = task.loss(model, batch, training=False)
        for key in totals:
            totals[key] += metrics[key] * len(graphs)
    return {key: value / len(items) for key, value in totals.items()}


if __name__ == "__main__":
    main()
