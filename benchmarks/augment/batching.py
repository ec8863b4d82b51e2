"""Batched vs one-at-a-time labelling with a tiny ALIGNN calculator (32-atom cells).

The same augmentation (strained, rattled fcc Cu 2x2x2 cells, ``cell_sigma``
0.02, one family per cell) runs twice: ``batch_size=1`` labels one structure
per ``calculate`` call (with the calculator's neighbour-list skin), and
``batch_size=B`` grows B families in lockstep, labelling one iterate of each
in a single ``calculate_batch`` call. Both grow the same trees; positions
agree to the precision of the model's float32 arithmetic.

    OMP_NUM_THREADS=1 python benchmarks/augment/batching.py            # CPU
    python benchmarks/augment/batching.py --device cuda --families 256  # GPU
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time

import numpy as np
import torch
from make_inputs import cells

from asegen.augment import Augmenter
from asegen.calculators import ALIGNNCalculator
from asegen.models.alignn import ALIGNN
from asegen.models.alignn_config import ALIGNNConfig

TINY = {  # the tiny seeded network of the tests
    "hidden_features": 16,
    "embedding_features": 16,
    "alignn_layers": 1,
    "gcn_layers": 1,
    "cutoff": 4.0,
    "three_body_cutoff": 3.0,
}


def run(calc, images, batch_size, n_per_structure):
    augmenter = Augmenter(
        calc,
        batch_size=batch_size,
        n_per_structure=n_per_structure,
        seed=0,
        cell_sigma=0.02,
        max_force=1e6,  # an untrained network: its forces mean nothing
    )
    start = time.perf_counter()
    out = list(augmenter.run(images))
    if calc.device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - start, augmenter.stats


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, default=32)
    parser.add_argument("--n-per-structure", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    calc = ALIGNNCalculator(ALIGNN(ALIGNNConfig(**TINY)), device=args.device)
    images = cells(2, args.families)
    run(calc, images[:2], args.batch_size, 2)  # warm-up
    print(
        f"`{' '.join(shlex.quote(a) for a in sys.argv)}` "
        f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"torch threads {torch.get_num_threads()})\n"
    )
    print(
        f"Machine: {os.cpu_count()} cores, {platform.processor() or 'unknown'}, "
        f"device {calc.device}, torch {torch.__version__}\n"
    )
    print("| mode | structures | calls | seconds | structures/s | speed-up |")
    print("|---|---|---|---|---|---|")
    single, t_single, s_single = run(calc, images, 1, args.n_per_structure)
    batched, t_batched, s_batched = run(
        calc, images, args.batch_size, args.n_per_structure
    )
    for mode, out, seconds, stats in (
        ("one structure per call", single, t_single, s_single),
        (f"batched, {args.batch_size} families", batched, t_batched, s_batched),
    ):
        print(
            f"| {mode} | {len(out)} | {stats.calls} | {seconds:.2f} | "
            f"{len(out) / seconds:.1f} | {t_single / seconds:.1f}x |"
        )
    same_tree = all(
        a.info["id"] == b.info["id"] and a.info["parent"] == b.info["parent"]
        for a, b in zip(single, batched, strict=True)
    )
    shift = max(
        np.abs(a.positions - b.positions).max()
        for a, b in zip(single, batched, strict=True)
    )
    print(
        f"\nsame ids and parents: {same_tree}; largest position difference "
        f"{shift:.1e} Å ({calc.dtype}: batched and single evaluations differ in "
        "the last bits, which can flip a borderline decision)"
    )


if __name__ == "__main__":
    main()
