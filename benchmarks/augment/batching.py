"""Batched vs one-at-a-time labelling with ALIGNN (32-atom cells), two cases.

``families`` (the default): the same augmentation (strained, rattled fcc Cu
2x2x2 cells, ``cell_sigma`` 0.02, one family per cell) runs twice:
``batch_size=1`` labels one structure per ``calculate`` call (with the
calculator's neighbour-list skin), and ``batch_size=B`` grows B families in
lockstep, labelling one iterate of each in a single ``calculate_batch`` call.
Both grow the same trees; positions agree to the precision of the model's
float32 arithmetic.

``seeds``: few starting structures grown large (2 cells x 64 by default), for
every wave width in ``--widths``, one structure per call and batched (both
families' slots in one ``calculate_batch`` call). Then the spread of the
generated structures per wave width with EMT (which labels physically; the
untrained network does not), averaged over five seeds: wave batching changes
which structures are made, not how good they are.

``workers``: the same augmentation one structure per call in one process and
in ``--workers`` worker processes (each gets its share of the cores as
threads).

``sizes``: the cost per structure of one ``calculate_batch`` over 32 strained,
rattled Cu32 cells for every ``batch_size`` in ``--widths`` (best of
``--repeats``): where batching stops paying on a CPU.

    OMP_NUM_THREADS=1 python benchmarks/augment/batching.py            # CPU
    python benchmarks/augment/batching.py --device cuda --families 256  # GPU
    OMP_NUM_THREADS=1 python benchmarks/augment/batching.py --case seeds
    OMP_NUM_THREADS=1 python benchmarks/augment/batching.py --case seeds \
        --model benchmark --widths 1 32
    python benchmarks/augment/batching.py --case workers --model benchmark
    OMP_NUM_THREADS=1 python benchmarks/augment/batching.py --case sizes \
        --model benchmark --widths 1 2 4 8 16 32
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from ase.calculators.emt import EMT
from make_inputs import cells

import asegen
from asegen.augment import Augmenter
from asegen.calculators import ALIGNNCalculator
from asegen.models.alignn import ALIGNN, ALIGNNConfig, config_from_alignn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "alignn"))
from _anchor_config import BENCHMARK_CONFIG

TINY = {  # the tiny seeded network of the tests
    "hidden_features": 16,
    "embedding_features": 16,
    "alignn_layers": 1,
    "gcn_layers": 1,
    "cutoff": 4.0,
    "three_body_cutoff": 3.0,
}
DIVERSITY_SEEDS = (0, 1, 2, 3, 4)


def network(name, device):
    """A seeded, untrained ALIGNN: the tests' tiny one or alignn's benchmark one."""
    torch.manual_seed(0)
    config = (
        ALIGNNConfig(**TINY)
        if name == "tiny"
        else config_from_alignn(BENCHMARK_CONFIG)[0]
    )
    return ALIGNNCalculator(ALIGNN(config), device=device)


class BatchCounter:
    """Wrap ``calc.calculate_batch`` to count its calls (model evaluations)."""

    def __init__(self, calc):
        self.calls = 0
        self._hook = calc.calculate_batch
        calc.calculate_batch = self

    def __call__(self, images, *, batch_size):
        self.calls += 1
        return self._hook(images, batch_size=batch_size)


def run(calc, images, batch_size, n_per_structure, wave_width=1):
    counter = BatchCounter(calc)
    augmenter = Augmenter(
        calc,
        batch_size=batch_size,
        n_per_structure=n_per_structure,
        seed=0,
        cell_sigma=0.02,
        max_force=1e6,  # an untrained network: its forces mean nothing
        wave_width=wave_width,
    )
    start = time.perf_counter()
    out = list(augmenter.run(images))
    if calc.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    del calc.calculate_batch
    model_calls = counter.calls if batch_size > 1 else augmenter.stats.calls
    return out, seconds, augmenter.stats, model_calls


def header(calc):
    print(
        f"`{' '.join(shlex.quote(a) for a in sys.argv)}` "
        f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"torch threads {torch.get_num_threads()})\n"
    )
    print(
        f"Machine: {os.cpu_count()} cores, {platform.processor() or 'unknown'}, "
        f"device {calc.device}, torch {torch.__version__}, "
        f"load average {os.getloadavg()[0]:.1f}\n"
    )


def compare(single, batched, calc):
    same_tree = all(
        a.info["id"] == b.info["id"] and a.info["parent"] == b.info["parent"]
        for a, b in zip(single, batched, strict=True)
    )
    shift = max(
        np.abs(a.positions - b.positions).max()
        for a, b in zip(single, batched, strict=True)
    )
    return (
        f"same ids and parents: {same_tree}; largest position difference "
        f"{shift:.1e} Å ({calc.dtype}: batched and single evaluations differ in "
        "the last bits, which can flip a borderline decision)"
    )


def families_case(args, calc):
    images = cells(2, args.families)
    print("| mode | structures | calls | seconds | structures/s | speed-up |")
    print("|---|---|---|---|---|---|")
    single, t_single, s_single, _ = run(calc, images, 1, args.n_per_structure)
    batched, t_batched, s_batched, _ = run(
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
    print(f"\n{compare(single, batched, calc)}")


def seeds_case(args, calc):
    images = cells(2, args.families)
    n = args.n_per_structure
    print(
        f"{args.families} starting cells x {n}, wave widths {args.widths}, "
        f"batched: up to {args.batch_size} structures per call; median of "
        f"{args.repeats} runs\n"
    )
    print(
        "| wave width | mode | structures | evaluations | model calls | "
        "evaluations/structure | model calls/structure | seconds | structures/s "
        "| speed-up |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    baseline, notes = None, []
    for width in args.widths:
        outs = {}
        for mode, batch_size in (("one per call", 1), ("batched", args.batch_size)):
            runs = [
                run(calc, images, batch_size, n, width) for _ in range(args.repeats)
            ]
            seconds = statistics.median(r[1] for r in runs)
            out, _, stats, model_calls = runs[0]
            outs[mode] = out
            baseline = baseline or seconds
            print(
                f"| {width} | {mode} | {len(out)} | {stats.calls} | {model_calls} | "
                f"{stats.calls / len(out):.2f} | {model_calls / len(out):.2f} | "
                f"{seconds:.2f} | {len(out) / seconds:.1f} | "
                f"{baseline / seconds:.1f}x |"
            )
        notes.append(f"- width {width}: {compare(*outs.values(), calc)}")
    print("", *notes, "", sep="\n")
    diversity(args)


def workers_case(args, calc):
    images = cells(2, args.families)
    print("| workers | structures | seconds | structures/s | speed-up |")
    print("|---|---|---|---|---|")
    baseline = None
    for workers in sorted({1, args.workers}):
        augmenter = Augmenter(
            calc,
            workers=workers,
            batch_size=1,
            n_per_structure=args.n_per_structure,
            seed=0,
            cell_sigma=0.02,
            max_force=1e6,
        )
        start = time.perf_counter()
        out = list(augmenter.run(images))
        seconds = time.perf_counter() - start
        baseline = baseline or seconds
        print(
            f"| {workers} | {len(out)} | {seconds:.2f} | {len(out) / seconds:.1f} | "
            f"{baseline / seconds:.2f}x |"
        )


def sizes_case(args, calc):
    images = cells(2, 32)
    print("| batch_size | ms per structure |")
    print("|---|---|")
    for size in args.widths:
        calc.calculate_batch(images, batch_size=size)  # warm-up
        best = min(
            timed(calc.calculate_batch, images, size) for _ in range(args.repeats)
        )
        print(f"| {size} | {1000 * best / len(images):.2f} |")


def timed(evaluate, images, batch_size):
    start = time.perf_counter()
    evaluate(images, batch_size=batch_size)
    return time.perf_counter() - start


def spread(frames):
    """Spread of the new structures: E/atom std, max|F| std, levels."""
    new = [a for a in frames if a.info["level"] > 0]
    energy = [a.get_potential_energy() / len(a) for a in new]
    fmax = [np.linalg.norm(a.get_forces(), axis=1).max() for a in new]
    levels = [a.info["level"] for a in new]
    return np.std(energy), np.std(fmax), np.mean(levels), max(levels)


def diversity(args):
    images = cells(2, args.families)
    print(
        f"Spread with EMT ({args.families} x {args.n_per_structure}, `cell_sigma` "
        f"0.02, mean over seeds {DIVERSITY_SEEDS}; std over the new structures):\n"
    )
    print(
        "| wave width | E/atom std, eV | max\\|F\\| std, eV/Å | mean level | "
        "deepest level | EMT calls/structure |"
    )
    print("|---|---|---|---|---|---|")
    for width in args.widths:
        rows = []
        for seed in DIVERSITY_SEEDS:
            augmenter = Augmenter(
                EMT(),
                n_per_structure=args.n_per_structure,
                seed=seed,
                cell_sigma=0.02,
                wave_width=width,
            )
            out = list(augmenter.run(images))
            rows.append((*spread(out), augmenter.stats.calls / len(out)))
        e_std, f_std, level, deepest, calls = np.mean(rows, axis=0)
        print(
            f"| {width} | {e_std:.4f} | {f_std:.3f} | {level:.2f} | {deepest:.1f} "
            f"| {calls:.2f} |"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--case", choices=("families", "seeds", "workers", "sizes"), default="families"
    )
    parser.add_argument("--families", type=int, help="starting cells (32 / 2)")
    parser.add_argument("--n-per-structure", type=int, help="family size (4 / 64)")
    parser.add_argument("--batch-size", type=int, default=None, help="(32 / 64)")
    parser.add_argument(
        "--widths",
        type=int,
        nargs="+",
        default=[1, 8, 32],
        help="wave widths (seeds) or batch sizes (sizes)",
    )
    parser.add_argument("--model", choices=("tiny", "benchmark"), default="tiny")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=2, help="(workers case)")
    args = parser.parse_args()
    # glibc's heap settings as in the documented runs; torch is imported already,
    # so no huge pages (as then). Exported, so spawned workers start tuned too.
    asegen.tune_allocator()
    few = args.case == "seeds"
    args.families = args.families or (2 if few else 32)
    args.n_per_structure = args.n_per_structure or (64 if few else 4)
    args.batch_size = args.batch_size or (64 if few else 32)
    calc = network(args.model, args.device)
    run(calc, cells(2, 2), args.batch_size, 2)  # warm-up
    header(calc)
    cases = {
        "families": families_case,
        "seeds": seeds_case,
        "workers": workers_case,
        "sizes": sizes_case,
    }
    cases[args.case](args, calc)


if __name__ == "__main__":
    main()
