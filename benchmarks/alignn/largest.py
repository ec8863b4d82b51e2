"""The largest ALIGNN evaluation that fits in memory: one E+F+S call per size.

The benchmark network (alignn's config of specs/alignn.md, section 3, with
alignn's K-nearest graph; random weights, ``torch.manual_seed(0)``) on Si
diamond cells of 8·k^3 atoms rattled by 0.02 Å. Each size runs in a fresh
process: one ``calculate`` of energy, forces and stress; the table gives its
time and the peak resident memory above the process baseline (after imports
and model load). alignn itself needs no run here: its memory per atom is
measured side by side in ``speed.py`` (Si1000, Si4096).

    python benchmarks/alignn/largest.py --k 8 12 16 18 --threads 2
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _anchor_config import BENCHMARK_CONFIG


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(k: int) -> dict:
    import asegen

    asegen.tune_allocator()  # before torch: large tensors on huge pages

    # isort: split
    import torch
    from ase.build import bulk
    from ase.calculators.calculator import all_changes

    from asegen.calculators import ALIGNNCalculator
    from asegen.models import ALIGNN
    from asegen.models.alignn import config_from_alignn

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    torch.manual_seed(0)
    model = ALIGNN(config_from_alignn(BENCHMARK_CONFIG)[0])
    calc = ALIGNNCalculator(model, device="cpu")
    atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat(k)
    atoms.rattle(0.02, seed=0)
    baseline = peak_mb()
    start = time.perf_counter()
    calc.calculate(atoms, ["energy", "forces", "stress"], all_changes)
    seconds = time.perf_counter() - start
    return {"atoms": len(atoms), "seconds": seconds, "mb": peak_mb() - baseline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[8, 12, 16])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    print(f"command: python {' '.join(sys.argv)}")
    print(f"threads: {args.threads}; machine: {os.cpu_count()} cores")
    print()
    print("| system | atoms | E+F+S s | peak RSS above baseline MB | MB per atom |")
    print("|---|---|---|---|---|")
    for k in args.k:
        done = subprocess.run(
            [sys.executable, __file__, "--worker", str(k)],
            capture_output=True, text=True, env=env,
        )  # fmt: skip
        if done.returncode:
            print(f"| Si k={k} | {8 * k**3} | failed (exit {done.returncode}) | | |")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| Si{r['atoms']} | {r['atoms']} | {r['seconds']:.1f} | "
              f"{r['mb']:.0f} | {r['mb'] / r['atoms']:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
