"""Speed of the cG-SchNet anchor (schnetpack-gschnet) on a molecule file.

Runs INSIDE the anchor's virtual environment (``make gschnet-anchor``) and
imports only the anchor's packages (schnetpack, schnetpack_gschnet, torch,
ase): never asegen. It measures, through the anchor's Python API (its Hydra
CLI is broken on torch >= 2.6, specs/gschnet.md section 10.1):

* ``data``: training-data pipeline, molecules/s: the anchor's transforms
  (``SubtractCenterOfMass``, ``OrderByDistanceToOrigin``,
  ``ConditionalGSchNetNeighborList``, ``BuildAtomsTrajectory`` with
  ``draw_random_samples`` k, ``CastTo32``) on rows of a SchNetPack ASE database,
  then ``gschnet_collate_fn``, in the main process;
* ``step``: optimisation steps, molecules/s: forward + the task's loss
  (type NLL + distance KL) + backward + Adam on pre-built batches of B
  molecules, the first step a warm-up;
* ``generate``: ``generate_molecules`` on batches of N attempts with
  ``max_n_atoms`` M: attempts/s and finished molecules/s (0-atom "molecules"
  counted apart); the finished molecules go to an extxyz file.

Generation uses the model after the timed steps plus ``--train-seconds`` of
extra training, or a model pickled by this script (``--save-model`` /
``--model``; such pickles are loaded in this venv only). The result is JSON.

Example (smoke size)::

    ~/.cache/asegen-anchors/gschnet-venv/bin/python \\
        benchmarks/placer/anchor_gschnet.py molecules.extxyz --n-molecules 20 \\
        --interactions 2 --gen-n 16 --max-atoms 20 --out bench-out/gschnet.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (defaults: the anchor's QM9 model and settings)."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("data", type=Path, help="molecules, any ase-readable file")
    parser.add_argument("--out", type=Path, help="JSON result (default: stdout)")
    parser.add_argument(
        "--xyz", type=Path, help="generated molecules (default: next to --out)"
    )
    parser.add_argument(
        "--phases", default="data,step,generate", help="comma-separated phases"
    )
    parser.add_argument("--n-molecules", type=int, default=50, help="molecules used")
    parser.add_argument("--drs", type=int, default=10, help="draw_random_samples k")
    parser.add_argument("--repeats", type=int, default=5, help="data repeats")
    parser.add_argument("--batch", type=int, default=5, help="molecules per step")
    parser.add_argument("--steps", type=int, default=7, help="timed steps")
    parser.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate")
    parser.add_argument(
        "--train-seconds", type=float, default=0.0, help="training before generation"
    )
    parser.add_argument("--features", type=int, default=128, help="SchNet width")
    parser.add_argument("--interactions", type=int, default=9, help="SchNet blocks")
    parser.add_argument("--rbf", type=int, default=25, help="Gaussians")
    parser.add_argument("--head-layers", type=int, default=5, help="layers per head")
    parser.add_argument("--head-hidden", type=int, default=256, help="head width")
    parser.add_argument(
        "--cutoffs",
        type=float,
        nargs=3,
        default=(10.0, 5.0, 1.7),
        metavar=("MODEL", "PREDICTION", "PLACEMENT"),
        help="cutoffs, Å",
    )
    parser.add_argument("--atom-types", default="1,6,7,8,9", help="elements (Z)")
    parser.add_argument("--gen-n", type=int, default=100, help="attempts per batch")
    parser.add_argument(
        "--gen-repeats", type=int, default=1, help="generation batches (seeds)"
    )
    parser.add_argument("--max-atoms", type=int, default=35, help="max_n_atoms")
    parser.add_argument("--grid-spacing", type=float, default=0.05, help="Å")
    parser.add_argument(
        "--grid-min", type=float, default=0.7, help="grid_distance_min, Å"
    )
    parser.add_argument(
        "--temperature", type=float, default=0.1, help="grid temperature"
    )
    parser.add_argument(
        "--grid-batch-size", type=int, default=-1, help="-1: the CLI default, N"
    )
    parser.add_argument("--model", type=Path, help="pickled model to generate with")
    parser.add_argument("--save-model", type=Path, help="pickle the trained model")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--seed", type=int, default=0, help="torch seed")
    return parser.parse_args(argv)


def set_threads(threads: int) -> None:
    """Limit every thread pool before torch starts its own."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)


def build_dataset(atoms_list: list, args: argparse.Namespace, workdir: Path) -> Any:
    """A SchNetPack ASE database with the anchor's training transforms."""
    import schnetpack as spk
    import schnetpack.transform as trn
    import schnetpack_gschnet as gs

    db = workdir / "molecules.db"
    dataset = spk.data.ASEAtomsData.create(
        str(db), distance_unit="Ang", property_unit_dict={}
    )
    dataset.add_systems([{} for _ in atoms_list], atoms_list)
    model_cutoff, prediction_cutoff, placement_cutoff = args.cutoffs
    tokens = {"origin_type": 121, "focus_type": 122, "stop_type": 123}
    transforms = [
        trn.SubtractCenterOfMass(),
        gs.transform.OrderByDistanceToOrigin(),
        gs.transform.ConditionalGSchNetNeighborList(
            model_cutoff=model_cutoff,
            prediction_cutoff=prediction_cutoff,
            placement_cutoff=placement_cutoff,
            use_covalent_radii=True,
            covalent_radius_factor=1.1,
        ),
        gs.transform.BuildAtomsTrajectory(draw_random_samples=args.drs, **tokens),
        trn.CastTo32(),
    ]
    return spk.data.load_dataset(
        str(db), spk.data.AtomsDataFormat.ASE, transforms=transforms
    )


def connected(atoms_list: list, placement_cutoff: float) -> tuple[list, int]:
    """Molecules the anchor keeps (its ConnectivityCheck) and the dropped count."""
    import torch
    from schnetpack import properties
    from schnetpack_gschnet.transform import ConnectivityCheck

    check = ConnectivityCheck(placement_cutoff, True, 1.1, return_inputs=False)
    kept = []
    for atoms in atoms_list:
        inputs = {
            properties.Z: torch.tensor(atoms.numbers),
            properties.R: torch.tensor(atoms.positions),
            properties.cell: torch.zeros(1, 3, 3),
            properties.pbc: torch.zeros(3, dtype=torch.bool),
        }
        if check(inputs):
            kept.append(atoms)
    return kept, len(atoms_list) - len(kept)


def build_model(args: argparse.Namespace) -> Any:
    """The anchor's ConditionalGenerativeSchNet (unconditioned) of the given size."""
    import schnetpack as spk
    import schnetpack_gschnet as gs

    model_cutoff, prediction_cutoff, placement_cutoff = args.cutoffs
    representation = gs.SchNet(
        n_atom_basis=args.features,
        n_interactions=args.interactions,
        radial_basis=spk.nn.radial.GaussianRBF(n_rbf=args.rbf, cutoff=model_cutoff),
        cutoff_fn=spk.nn.cutoff.CosineCutoff(cutoff=model_cutoff),
        max_z=130,
    )
    model = gs.ConditionalGenerativeSchNet(
        representation=representation,
        atom_types=[int(z) for z in args.atom_types.split(",")],
        origin_type=121,
        focus_type=122,
        stop_type=123,
        model_cutoff=model_cutoff,
        prediction_cutoff=prediction_cutoff,
        placement_cutoff=placement_cutoff,
        type_prediction_n_layers=args.head_layers,
        type_prediction_n_hidden=args.head_hidden,
        distance_prediction_n_layers=args.head_layers,
        distance_prediction_n_hidden=args.head_hidden,
    )
    model.set_distance_unit("Ang")
    return model


def batches(dataset: Any, size: int, count: int, first: int = 0) -> list[dict]:
    """``count`` collated batches of ``size`` molecules, cycling through the set."""
    from schnetpack_gschnet.data import gschnet_collate_fn

    n = len(dataset)
    return [
        gschnet_collate_fn([dataset[(first + b * size + i) % n] for i in range(size)])
        for b in range(count)
    ]


def batch_sizes(batch: dict) -> dict[str, int]:
    """Partial structures, atoms and neighbour pairs in a collated batch."""
    from schnetpack import properties

    return {
        "steps": len(batch[properties.n_atoms]),
        "atoms": len(batch[properties.Z]),
        "pairs": len(batch[properties.idx_i]),
    }


def summary(seconds: list[float], per_repeat: int, unit: str) -> dict[str, Any]:
    """Times, their median and the rate of ``unit`` per second at the median."""
    median = statistics.median(seconds)
    return {
        "seconds": [round(s, 4) for s in seconds],
        "median_s": round(median, 4),
        f"{unit}_per_s": round(per_repeat / median, 3),
    }


def measure_data(dataset: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Transforms + collate of all molecules, ``--repeats`` times."""
    from schnetpack_gschnet.data import gschnet_collate_fn

    n = len(dataset)
    seconds, sizes = [], {}
    for _ in range(args.repeats):
        start = time.perf_counter()
        batch = gschnet_collate_fn([dataset[i] for i in range(n)])
        seconds.append(time.perf_counter() - start)
        sizes = batch_sizes(batch)
    result = summary(seconds, n, "molecules")
    result.update({f"{k}_per_molecule": round(v / n, 2) for k, v in sizes.items()})
    result["molecules"] = n
    return result


def train_step(model: Any, task: Any, optimizer: Any, batch: dict) -> float:
    """One forward + loss + backward + Adam step; the loss."""
    optimizer.zero_grad()
    prediction = model(dict(batch))
    loss = task.loss_fn(prediction, batch)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def measure_steps(model: Any, dataset: Any, args: argparse.Namespace) -> dict:
    """``--steps`` timed optimisation steps after one warm-up step."""
    import torch
    from schnetpack_gschnet import ConditionalGenerativeSchNetTask

    task = ConditionalGenerativeSchNetTask(model, optimizer_args={"lr": args.lr})
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    prepared = batches(dataset, args.batch, args.steps + 1)
    model.train()
    seconds, losses = [], []
    for index, batch in enumerate(prepared):
        start = time.perf_counter()
        losses.append(train_step(model, task, optimizer, batch))
        if index:
            seconds.append(time.perf_counter() - start)
    result = summary(seconds, args.batch, "molecules")
    sizes = [batch_sizes(b) for b in prepared[1:]]
    for key in ("steps", "atoms", "pairs"):
        result[f"{key}_per_batch"] = statistics.mean(s[key] for s in sizes)
    result["losses"] = [round(x, 4) for x in losses]
    if args.train_seconds > 0:
        result["extra_training"] = train_for(model, task, optimizer, dataset, args)
    return result


def train_for(
    model: Any, task: Any, optimizer: Any, dataset: Any, args: argparse.Namespace
) -> dict[str, Any]:
    """Train (data in the main process) for ``--train-seconds``; molecules seen."""
    start, first, losses = time.perf_counter(), 0, []
    while time.perf_counter() - start < args.train_seconds:
        (batch,) = batches(dataset, args.batch, 1, first)
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
    """``--gen-repeats`` batches of ``--gen-n`` attempts; stats and the molecules."""
    import torch
    from ase import Atoms
    from schnetpack_gschnet.generate_molecules import generate_molecules

    model.eval()
    grid_batch = args.gen_n if args.grid_batch_size < 0 else args.grid_batch_size
    seconds, finished, empty, sizes, molecules = [], 0, 0, Counter(), []
    for repeat in range(args.gen_repeats):
        torch.manual_seed(args.seed + repeat)
        start = time.perf_counter()
        with torch.no_grad():
            positions, numbers, done, tokens = generate_molecules(
                model=model,
                n_molecules=args.gen_n,
                max_n_atoms=args.max_atoms,
                grid_distance_min=args.grid_min,
                grid_spacing=args.grid_spacing,
                conditions={"trajectory": {}, "step": {}, "atom": {}},
                device=torch.device("cpu"),
                t=args.temperature,
                grid_batch_size=grid_batch,
            )
        seconds.append(time.perf_counter() - start)
        for index, n_atoms in done:
            sizes[n_atoms] += 1
            if n_atoms == 0:
                empty += 1
                continue
            finished += 1
            atoms = Atoms(
                numbers=numbers[index, tokens : tokens + n_atoms].numpy(),
                positions=positions[index, tokens : tokens + n_atoms].numpy(),
            )
            atoms.info.update({"repeat": repeat, "seed": args.seed + repeat})
            molecules.append(atoms)
    attempts = args.gen_n * args.gen_repeats
    total = sum(seconds)
    result = summary(seconds, args.gen_n, "attempts")
    result.update(
        {
            "attempts": attempts,
            "finished_nonempty": finished,
            "finished_empty": empty,
            "failed_max_atoms": attempts - finished - empty,
            "finished_per_s": round(finished / total, 3),
            "sizes": {str(k): v for k, v in sorted(sizes.items())},
        }
    )
    return result, molecules


def versions() -> dict[str, str]:
    """Versions of the anchor stack."""
    from importlib.metadata import version

    packages = ("schnetpack", "schnetpack-gschnet", "torch", "ase", "numpy")
    return {"python": platform.python_version()} | {p: version(p) for p in packages}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every requested phase; the JSON-ready result."""
    import torch
    from ase.io import read, write

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    phases = set(args.phases.split(","))
    molecules, dropped = connected(
        read(args.data, index=f":{args.n_molecules}"), args.cutoffs[2]
    )
    result: dict[str, Any] = {
        "settings": {
            k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
        },
        "versions": versions(),
        "threads": torch.get_num_threads(),
        "molecules": len(molecules),
        "dropped_disconnected": dropped,
    }
    # a pickle written by --save-model of this script, in this venv only
    model = (
        torch.load(args.model, weights_only=False) if args.model else build_model(args)
    )
    result["parameters"] = sum(p.numel() for p in model.parameters())
    with tempfile.TemporaryDirectory() as workdir:
        dataset = build_dataset(molecules, args, Path(workdir))
        if "data" in phases:
            result["data"] = measure_data(dataset, args)
        if "step" in phases:
            result["step"] = measure_steps(model, dataset, args)
    if args.save_model:
        torch.save(model, args.save_model)
    if "generate" in phases:
        result["generate"], generated = measure_generation(model, args)
        xyz = args.xyz or (args.out or Path("gschnet")).with_suffix(".extxyz")
        write(xyz, generated, format="extxyz")
        result["generate"]["xyz"] = str(xyz)
    return result


def main(argv: list[str] | None = None) -> None:
    """Parse, set threads, run and write the JSON result."""
    args = parse_args(argv)
    set_threads(args.threads)
    text = json.dumps(run(args), indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text, file=sys.stdout)


if __name__ == "__main__":
    main()
