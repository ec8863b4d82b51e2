"""Validity of asegen's samples on one AGeDi case, for a training setting and seed.

    OMP_NUM_THREADS=1 python benchmarks/diffusion/case_validity.py slab NAME \\
        --seed 1 --set diffusion.sigma_max=4.0 [--data DIR] [--out DIR] \\
        [--steps 60] [--no-corrector] [--sample-seeds 0 1 2]

Trains ``asegen train diffusion`` on the case's ``make_data.py`` set with the
protocol of ``compare_agedi.py`` (90/10 split, batch 32, learning rate 5e-4,
the case's epochs, one thread), then draws 32 samples of the case's request
(seed 0, the model's default sampler; ``--steps``, ``--no-corrector`` and
``--sample-seeds`` change that) and prints one JSON line: the fraction
whose closest pair is at least 0.7 x the training set's (``valid``, one per
sampling seed, and their ``mean``), and the median closest pair. A run
folder that exists is sampled again, not retrained (``--out
bench-out/diffusion-agedi-slab-2 asegen-train`` samples a comparison's
model). Used to decide diffusion defaults over training seeds
(docs/benchmarks.md).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from agedi_cases import CASES

ROOT = Path(__file__).resolve().parents[2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("name", help="run folder name under --out")
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE")
    parser.add_argument("--epochs", type=int, help="default: the case's")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--steps", type=int, help="sampling steps (the model's)")
    parser.add_argument("--no-corrector", action="store_true")
    parser.add_argument("--sample-seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--data", type=Path, default=ROOT / "bench-out/diffusion-agedi-cases/data"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench-out/diffusion-case-validity"
    )
    args = parser.parse_args()
    case = CASES[args.case]
    out = args.out / args.name
    if not out.exists():
        command = [
            str(Path(sys.executable).parent / "asegen"), "train", "diffusion",
            "--data", str(args.data / f"{case.data}.h5"), "--out", str(out),
            "--epochs", str(args.epochs or case.epochs), "--batch-size", "32",
            "--lr", "5e-4", "--seed", str(args.seed), *case.asegen_options,
            "--device", "cpu", "--set", "train.train_ratio=0.9",
            "--set", "train.val_ratio=0.1", "--set", "train.test_ratio=0",
        ]  # fmt: skip
        for setting in args.set:
            command += ["--set", setting]
        subprocess.run(command, check=True, capture_output=True)
    run = max(out.glob("version_*"), key=lambda p: int(p.name.split("_")[1]))

    import torch

    torch.set_num_threads(1)
    import asegen
    from asegen.data import read_structures
    from asegen.evaluation import min_distance

    training = min(
        min_distance(a) for a in read_structures(args.data / f"{case.data}.h5")
    )
    where = {}
    if case.template:
        template = next(iter(read_structures(args.data / f"{case.template}.h5")))
        where = {"template": template, "confinement": list(case.confinement)}
    elif case.cell:
        where = {"cell": list(case.cell)}
    start = time.perf_counter()
    generator = asegen.load(run)
    steps = args.steps or generator.process.sampling_steps
    closest = [
        np.array([min_distance(a) for a in generator.sample(
            args.samples, formula=case.formula, **where, seed=seed, batch_size=32,
            steps=steps, corrector=not args.no_corrector, progress=False,
        )])
        for seed in args.sample_seeds
    ]  # fmt: skip
    valid = [float(np.mean(c >= 0.7 * training)) for c in closest]
    print(json.dumps({
        "name": args.name, "case": args.case, "seed": args.seed, "set": args.set,
        "steps": steps, "corrector": not args.no_corrector,
        "valid": valid[0] if len(valid) == 1 else valid,
        "mean": float(np.mean(valid)),
        "closest_median": float(np.median(np.concatenate(closest))),
        "sample_seconds": round(time.perf_counter() - start, 1),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
