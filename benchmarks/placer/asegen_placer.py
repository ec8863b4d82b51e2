"""Speed of asegen's placer on a molecule file, with the anchor's JSON keys.

The asegen half of the side-by-side protocol in ``README.md``: the same
phases, options and result keys as ``anchor_gschnet.py`` (which runs in the
anchor's venv), measured with asegen's ``PlacerTask`` items, ``GSchNet`` and
``AutoregressivePlacer`` in ``.venv``:

* ``data``: every molecule prepared (neighbours, pairs, distances: what
  asegen keeps in memory) and its ``k`` partial structures of one epoch
  built and batched, main process; the preparation alone is reported apart,
  since asegen does it once per training run and the anchor every epoch;
* ``step``: forward + loss + backward + Adam on batches of the partial
  structures of ``--batch`` molecules, the first step a warm-up;
* ``generate``: ``AutoregressivePlacer.batches`` on ``--gen-n`` attempts.

Example (smoke size)::

    .venv/bin/python benchmarks/placer/asegen_placer.py molecules.extxyz \\
        --n-molecules 20 --interactions 2 --gen-n 16 --max-atoms 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The anchor script's options (its defaults: the QM9 model and settings)."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("data", type=Path, help="molecules, any ase-readable file")
    parser.add_argument("--out", type=Path, help="JSON result (default: stdout)")
    parser.add_argument("--xyz", type=Path, help="generated molecules")
    parser.add_argument("--phases", default="data,step,generate")
    parser.add_argument("--n-molecules", type=int, default=50)
    parser.add_argument("--drs", type=int, default=10, help="draw_random_samples k")
    parser.add_argument("--repeats", type=int, default=5, help="data repeats")
    parser.add_argument("--batch", type=int, default=5, help="molecules per step")
    parser.add_argument("--steps", type=int, default=7, help="timed steps")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--train-seconds", type=float, default=0.0)
    parser.add_argument("--features", type=int, default=128)
    parser.add_argument("--interactions", type=int, default=9)
    parser.add_argument("--rbf", type=int, default=25)
    parser.add_argument("--head-layers", type=int, default=5)
    parser.add_argument("--head-hidden", type=int, default=256)
    parser.add_argument(
        "--cutoffs", type=float, nargs=3, default=(10.0, 5.0, 1.7),
        metavar=("MODEL", "PREDICTION", "PLACEMENT"),
    )  # fmt: skip
    parser.add_argument("--atom-types", default="1,6,7,8,9")
    parser.add_argument("--gen-n", type=int, default=100)
    parser.add_argument("--gen-repeats", type=int, default=1)
    parser.add_argument("--max-atoms", type=int, default=35)
    parser.add_argument("--grid-spacing", type=float, default=0.05)
    parser.add_argument("--grid-min", type=float, default=0.7)
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--model", type=Path, help="asegen checkpoint to generate with")
    parser.add_argument("--save-model", type=Path, help="save the trained model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def build_model(args: argparse.Namespace) -> Any:
    """asegen's GSchNet of the anchor's size."""
    from asegen.models.gschnet import GSchNet, GSchNetConfig

    model_cutoff, prediction_cutoff, placement_cutoff = args.cutoffs
    config = GSchNetConfig(
        model_cutoff=model_cutoff,
        prediction_cutoff=prediction_cutoff,
        placement_cutoff=placement_cutoff,
        atom_types=[int(z) for z in args.atom_types.split(",")],
        n_atom_basis=args.features,
        n_filters=args.features,
        n_interactions=args.interactions,
        n_rbf=args.rbf,
        type_prediction_n_layers=args.head_layers,
        type_prediction_n_hidden=args.head_hidden,
        distance_prediction_n_layers=args.head_layers,
        distance_prediction_n_hidden=args.head_hidden,
    )
    return GSchNet(config)


def make_task(model: Any, args: argparse.Namespace) -> Any:
    """A placer task for ``model`` with ``k = --drs``."""
    from asegen.placer import PlacerConfig, PlacerTask

    return PlacerTask(model, PlacerConfig(draw_random_samples=args.drs), seed=args.seed)


def molecule_batches(
    items: Any, size: int, count: int, epoch: int, first: int = 0
) -> list:
    """``count`` batches of the partial structures of ``size`` molecules each."""
    import torch

    from asegen.graph import batch_graphs

    n = len(items.prepared)
    out = []
    for b in range(count):
        graphs = []
        for i in range(size):
            s = (first + b * size + i) % n
            graphs += [
                items[(epoch, k)]
                for k in range(int(items.offsets[s]), int(items.offsets[s + 1]))
            ]
        out.append(batch_graphs(graphs).to(dtype=torch.float32))
    return out


def sizes_of(batch: Any) -> dict[str, int]:
    """Partial structures, atoms and pairs of a batch."""
    return {
        "steps": batch.n_structures,
        "atoms": len(batch.numbers),
        "pairs": batch.n_edges,
    }


def summary(seconds: list[float], per_repeat: int, unit: str) -> dict[str, Any]:
    """Times, their median and the rate of ``unit`` per second at the median."""
    median = statistics.median(seconds)
    return {
        "seconds": [round(s, 4) for s in seconds],
        "median_s": round(median, 4),
        f"{unit}_per_s": round(per_repeat / median, 3),
    }


def measure_data(molecules: list, model: Any, args: argparse.Namespace) -> dict:
    """Preparation + one epoch's items + batching, ``--repeats`` times."""
    import torch

    from asegen.graph import batch_graphs

    task = make_task(model, args)
    seconds, prepare_seconds, sizes = [], [], {}
    for repeat in range(args.repeats):
        start = time.perf_counter()
        items = task.items(molecules, range(len(molecules)), split="train")
        prepared = time.perf_counter()
        graphs = [items[(repeat, k)] for k in range(len(items))]
        batch = batch_graphs(graphs).to(dtype=torch.float32)
        seconds.append(time.perf_counter() - start)
        prepare_seconds.append(prepared - start)
        sizes = sizes_of(batch)
    n = len(molecules)
    result = summary(seconds, n, "molecules")
    result["prepare_median_s"] = round(statistics.median(prepare_seconds), 4)
    per_epoch = [s - p for s, p in zip(seconds, prepare_seconds, strict=True)]
    result["epoch_items_molecules_per_s"] = round(n / statistics.median(per_epoch), 3)
    result.update({f"{k}_per_molecule": round(v / n, 2) for k, v in sizes.items()})
    result["molecules"] = n
    return result


def train_step(model: Any, task: Any, optimizer: Any, batch: Any) -> float:
    """One forward + loss + backward + Adam step; the loss."""
    optimizer.zero_grad()
    loss, _ = task.loss(model, batch, training=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def measure_steps(model: Any, molecules: list, args: argparse.Namespace) -> dict:
    """``--steps`` timed optimisation steps after one warm-up step."""
    import torch

    task = make_task(model, args)
    items = task.items(molecules, range(len(molecules)), split="train")
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    prepared = molecule_batches(items, args.batch, args.steps + 1, epoch=0)
    model.train()
    seconds, losses = [], []
    for index, batch in enumerate(prepared):
        start = time.perf_counter()
        losses.append(train_step(model, task, optimizer, batch))
        if index:
            seconds.append(time.perf_counter() - start)
    result = summary(seconds, args.batch, "molecules")
    sizes = [sizes_of(b) for b in prepared[1:]]
    for key in ("steps", "atoms", "pairs"):
        result[f"{key}_per_batch"] = statistics.mean(s[key] for s in sizes)
    result["losses"] = [round(x, 4) for x in losses]
    if args.train_seconds > 0:
        result["extra_training"] = train_for(model, task, optimizer, items, args)
    return result


def train_for(
    model: Any, task: Any, optimizer: Any, items: Any, args: argparse.Namespace
) -> dict:
    """Train (items built in the main process) for ``--train-seconds``."""
    start, first, losses, epoch = time.perf_counter(), 0, [], 1
    n = len(items.prepared)
    while time.perf_counter() - start < args.train_seconds:
        (batch,) = molecule_batches(items, args.batch, 1, epoch + first // n, first)
        losses.append(train_step(model, task, optimizer, batch))
        first += args.batch
    elapsed = time.perf_counter() - start
    return {
        "seconds": round(elapsed, 1),
        "molecules": first,
        "molecules_per_s": round(first / elapsed, 3),
        "last_losses": [round(x, 4) for x in losses[-5:]],
    }


def measure_generation(model: Any, args: argparse.Namespace) -> tuple[dict, list]:
    """``--gen-repeats`` batches of ``--gen-n`` attempts; stats and molecules."""
    from asegen.placer import AutoregressivePlacer

    placer = AutoregressivePlacer(model, device="cpu")
    seconds, finished, failed, sizes, molecules = [], 0, 0, Counter(), []
    for repeat in range(args.gen_repeats):
        start = time.perf_counter()
        (batch,) = placer.batches(
            args.gen_n,
            batch_size=args.gen_n,
            max_n_atoms=args.max_atoms,
            temperature=args.temperature,
            grid_spacing=args.grid_spacing,
            grid_distance_min=args.grid_min,
            seed=args.seed + repeat,
        )
        seconds.append(time.perf_counter() - start)
        finished += len(batch.structures)
        failed += batch.failed
        for atoms in batch.structures:
            sizes[len(atoms)] += 1
            atoms.info.update({"repeat": repeat})
            molecules.append(atoms)
    attempts = args.gen_n * args.gen_repeats
    result = summary(seconds, args.gen_n, "attempts")
    result.update(
        {
            "attempts": attempts,
            "finished_nonempty": finished,
            "finished_empty": 0,  # asegen never draws a stop before the first atom
            "failed_max_atoms": failed,
            "finished_per_s": round(finished / sum(seconds), 3),
            "sizes": {str(k): v for k, v in sorted(sizes.items())},
        }
    )
    return result, molecules


def versions() -> dict[str, str]:
    """Versions of asegen's stack."""
    from importlib.metadata import version

    packages = ("asegen", "torch", "ase", "numpy")
    return {"python": platform.python_version()} | {p: version(p) for p in packages}


def connected(molecules: list, model: Any) -> tuple[list, int]:
    """Molecules asegen can build (connected placement graphs) and the rest."""
    from asegen.placer.trajectory import prepare

    kept = [a for a in molecules if not isinstance(prepare(a, model.config), str)]
    return kept, len(molecules) - len(kept)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every requested phase; the JSON-ready result."""
    import torch
    from ase.io import write

    from asegen.data import read_structures
    from asegen.models.checkpoint import load_checkpoint, save_checkpoint

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    phases = set(args.phases.split(","))
    model = load_checkpoint(args.model)[0] if args.model else build_model(args)
    molecules, dropped = connected(
        list(read_structures(args.data)[: args.n_molecules]), model
    )
    result: dict[str, Any] = {
        "settings": {
            k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
        },
        "versions": versions(),
        "threads": torch.get_num_threads(),
        "molecules": len(molecules),
        "dropped_disconnected": dropped,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if "data" in phases:
        result["data"] = measure_data(molecules, model, args)
    if "step" in phases:
        result["step"] = measure_steps(model, molecules, args)
    if args.save_model:
        save_checkpoint(args.save_model, model)
    if "generate" in phases:
        model.eval()
        result["generate"], generated = measure_generation(model, args)
        xyz = args.xyz or (args.out or Path("asegen")).with_suffix(".extxyz")
        xyz.parent.mkdir(parents=True, exist_ok=True)
        write(xyz, generated, format="extxyz")
        result["generate"]["xyz"] = str(xyz)
    return result


def main(argv: list[str] | None = None) -> None:
    """Parse, set threads, run and write the JSON result."""
    args = parse_args(argv)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(args.threads)
    text = json.dumps(run(args), indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
