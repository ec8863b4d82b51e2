"""Parity of ALIGNNCalculator.from_alignn with the alignn package itself.

Two halves, each run by its own interpreter so alignn never enters asegen's
environment:

    # in a virtualenv with alignn (see specs/alignn.md, section 1):
    cd /tmp && ALIGNN_PY benchmarks/alignn/parity.py anchor OUT [--float64]
    # in asegen's environment:
    python benchmarks/alignn/parity.py compare OUT [--float64]

``anchor`` builds a randomly initialised ``alignn_atomwise_pure`` model with
the benchmark configuration, writes it as an alignn run directory
(``OUT/run/config.json`` + ``best_model.pt``), evaluates alignn's own
calculator on rattled bulk cells, two-element cells and a cell with one
pair closer than 1 Å, and stores structures and results (full precision).
``compare`` loads the run with ``ALIGNNCalculator.from_alignn`` and reports
the largest differences; it exits 1 if they exceed the tolerance (float32
round-off, or 1e-8 in float64). alignn omits its short-range penalty from
the reported energy (its forces include it); asegen includes it, so that
known term is added to alignn's energy before comparing.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _anchor_config import BENCHMARK_CONFIG


def structures():
    from ase.build import bulk

    rng = np.random.default_rng(0)

    def rattled(atoms, sigma=0.05):
        atoms.positions += rng.normal(0.0, sigma, atoms.positions.shape)
        return atoms

    si8 = rattled(bulk("Si", "diamond", a=5.43, cubic=True))
    si64 = rattled(bulk("Si", "diamond", a=5.43, cubic=True).repeat(2))
    nacl = rattled(bulk("NaCl", "rocksalt", a=5.64, cubic=True))
    cuau = bulk("Cu", "fcc", a=3.8, cubic=True).repeat((2, 2, 2))
    cuau.symbols[::2] = "Au"
    cuau = rattled(cuau, 0.1)
    close = rattled(bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 1, 1)), 0.02)
    close.positions[1] = close.positions[0] + [0.5, 0.4, 0.3]  # 0.71 Å: penalty, ZBL
    return {"Si8": si8, "Si64": si64, "NaCl8": nacl, "CuAu32": cuau, "Cu8-close": close}


def anchor(out: Path, float64: bool) -> None:
    import torch
    from alignn.config import TrainingConfig
    from alignn.ff.calculators import AlignnAtomwiseCalculator
    from alignn.models.alignn_atomwise_pure import (
        ALIGNNAtomWisePure,
        ALIGNNAtomWisePureConfig,
    )

    if float64:
        torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    config = TrainingConfig(**BENCHMARK_CONFIG).model_dump()
    config["dtype"] = "float64" if float64 else "float32"
    model = ALIGNNAtomWisePure(ALIGNNAtomWisePureConfig(**config["model"]))
    with torch.no_grad():  # random weights, scaled so every term matters
        for parameter in model.parameters():
            parameter.mul_(3.0)
    model.eval()
    run = out / "run"
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(json.dumps(config, indent=1, default=str))
    torch.save(model.state_dict(), run / "best_model.pt")

    calc = AlignnAtomwiseCalculator(model=model, config=config, device="cpu")
    results = {}
    images = structures()
    for name, atoms in images.items():
        atoms.calc = calc
        results[name] = {
            "numbers": atoms.numbers.tolist(),
            "positions": atoms.positions.tolist(),  # full precision, unlike extxyz
            "cell": atoms.cell.array.tolist(),
            "energy": float(atoms.get_potential_energy()),
            "forces": atoms.get_forces().tolist(),
            "stress": atoms.get_stress().tolist(),
        }
    (out / "anchor_results.json").write_text(json.dumps(results))
    print(f"wrote {run} and alignn's results for {len(results)} structures")


def penalty(atoms, factor: float, threshold: float) -> float:
    """alignn's penalty energy: factor * (threshold - d) on directed edges below it."""
    from asegen.graph import neighbor_list

    i, j, shifts = neighbor_list(atoms, threshold)
    d = np.linalg.norm(
        atoms.positions[j] - atoms.positions[i] + shifts @ atoms.cell, axis=1
    )
    return float(factor * np.sum(threshold - d))


def compare(out: Path, float64: bool) -> int:
    import torch
    from ase import Atoms

    from asegen.calculators import ALIGNNCalculator

    dtype = torch.float64 if float64 else torch.float32
    calc = ALIGNNCalculator.from_alignn(out / "run", device="cpu", dtype=dtype)
    reference = json.loads((out / "anchor_results.json").read_text())
    cfg = calc.model.config
    rows, worst = [], 0.0
    for name, ref in reference.items():
        atoms = Atoms(ref["numbers"], ref["positions"], cell=ref["cell"], pbc=True)
        atoms.calc = calc
        energy_ref = ref["energy"] + penalty(
            atoms, cfg.penalty_factor, cfg.penalty_threshold
        )
        d_energy = abs(atoms.get_potential_energy() - energy_ref)
        d_forces = np.abs(atoms.get_forces() - np.array(ref["forces"])).max()
        d_stress = np.abs(atoms.get_stress() - np.array(ref["stress"])).max()
        scale_f = max(np.abs(ref["forces"]).max(), 1e-3)
        scale_e = max(abs(energy_ref), 1.0)
        relative = max(d_energy / scale_e, d_forces / scale_f)
        worst = max(worst, relative)
        rows.append(
            f"| {name} | {len(atoms)} | {energy_ref:.6f} | {d_energy:.2e} | "
            f"{np.abs(ref['forces']).max():.4f} | {d_forces:.2e} | {d_stress:.2e} |"
        )
    print(f"precision: {'float64' if float64 else 'float32'}")
    header = (
        "| structure | atoms | alignn energy (eV, + penalty) | abs. diff energy "
        "| max abs force (eV/Å) | max diff force | max diff stress (eV/Å³) |"
    )
    print(header)
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    tolerance = 1e-8 if float64 else 2e-5
    print(f"largest relative difference {worst:.2e} (tolerance {tolerance:.0e})")
    return 0 if worst <= tolerance else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["anchor", "compare"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--float64", action="store_true")
    args = parser.parse_args()
    if args.mode == "anchor":
        anchor(args.out, args.float64)
    else:
        sys.exit(compare(args.out, args.float64))


if __name__ == "__main__":
    main()
