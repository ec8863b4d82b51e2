# ruff: noqa: E402  (the allocator is tuned before torch and the rest are imported)
"""How much faster than alignn can any implementation of the same network be?

Records every matrix product of one asegen evaluation of energy, forces and
stress (the benchmark model of specs/alignn.md, loaded as ``from_alignn``
would build it, random weights), then replays those products alone, with the
same shapes, on one thread. Any implementation of this architecture that
computes forces by reverse-mode differentiation runs at least these products
(the forward products and, per product, one more for the gradient with respect
to its input), so their time is a floor for one evaluation. Dividing alignn's
measured evaluation time by the floor bounds the speed-up that rearranging
the rest (gathers, scatters, normalisation, activations, Python) could give.

    OMP_NUM_THREADS=1 python benchmarks/alignn/matmul_floor.py --systems Si64 Cu500

alignn's time comes from ``speed.py`` (same machine, same session); pass it
with ``--alignn-ms Si64=50.7 ...`` to print the bound.
"""

import argparse
import sys
from pathlib import Path

import asegen

asegen.tune_allocator()  # before torch is imported, as in a user's script

# isort: split
import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parents[1]))
from _anchor_config import BENCHMARK_CONFIG
from _timing import median_ms
from speed import SYSTEMS, make_atoms

MATMULS = {torch.ops.aten.mm.default, torch.ops.aten.addmm.default}


class RecordMatmuls(TorchDispatchMode):
    """Remember the operand shapes of every matrix product."""

    def __init__(self):
        super().__init__()
        self.shapes = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in MATMULS:
            a, b = (
                (args[0], args[1]) if func is torch.ops.aten.mm.default else args[1:3]
            )
            self.shapes.append((tuple(a.shape), tuple(b.shape)))
        return func(*args, **(kwargs or {}))


def evaluate(calc, atoms):
    from ase.calculators.calculator import all_changes

    calc.calculate(atoms, ["energy", "forces", "stress"], all_changes)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", default=["Si64", "Si512", "Cu500"])
    parser.add_argument("--alignn-ms", nargs="*", default=[], metavar="SYSTEM=MS")
    args = parser.parse_args()
    alignn_ms = dict(item.split("=") for item in args.alignn_ms)
    torch.set_num_threads(1)

    from asegen.calculators import ALIGNNCalculator
    from asegen.models import ALIGNN
    from asegen.models.alignn import config_from_alignn

    config, _ = config_from_alignn(dict(BENCHMARK_CONFIG))
    torch.manual_seed(0)
    calc = ALIGNNCalculator(ALIGNN(config), device="cpu")
    print("| system | N | matmuls | GFLOP | matmul floor ms | asegen ms | alignn ms "
          "| alignn / floor |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name in args.systems:
        assert name in SYSTEMS, f"unknown system {name}"
        atoms = make_atoms(name)
        atoms.rattle(0.02, seed=0)
        recorder = RecordMatmuls()
        with recorder:
            evaluate(calc, atoms)
        # outputs preallocated: the floor counts arithmetic, not page faults
        operands = [
            (torch.randn(a), torch.randn(b), torch.empty(a[0], b[1]))
            for a, b in recorder.shapes
        ]
        flops = sum(2 * a[0] * a[1] * b[1] for a, b in recorder.shapes)

        def products(operands=operands):
            for a, b, out in operands:
                torch.mm(a, b, out=out)

        floor = median_ms(products)
        own = median_ms(lambda atoms=atoms: evaluate(calc, atoms))
        anchor = float(alignn_ms[name]) if name in alignn_ms else None
        bound = f"{anchor / floor:.2f}x" if anchor else "–"
        print(f"| {name} | {len(atoms)} | {len(recorder.shapes)} | {flops / 1e9:.2f} "
              f"| {floor:.1f} | {own:.1f} | {anchor or '–'} | {bound} |")  # fmt: skip


if __name__ == "__main__":
    main()
