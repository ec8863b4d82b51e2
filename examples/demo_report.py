"""The end of `make demo`: MD with the trained force field, Pd4O4 samples, molecules.

Given the run that `make demo` trained on structures the bundled Pd-O force
field labelled, this script

1. runs a short NVE trajectory of a PdO cell with it and plots the energy;
2. samples Pd4O4 crystals with the bundled generator (``pdo-bulk``), relaxes
   them with the bundled force field (``pdo``), counts those that land on
   tetragonal PdO and draws them;
3. builds molecules with the bundled placer (``qm9``) and checks them with
   RDKit;

and writes ``OUT/REPORT.md`` with the PNG figures beside it.

    python examples/demo_report.py RUN_DIR OUT_DIR [--small]
"""

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
from ase import units
from ase.filters import FrechetCellFilter
from ase.io import read
from ase.md.verlet import VelocityVerlet
from ase.optimize import FIRE
from matplotlib.figure import Figure

import asegen
import asegen.pretrained
from asegen.evaluation import evaluate_molecules

try:  # ASE >= 3.29
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:  # older ASE: the same distribution under its former name
    from ase.md.velocitydistribution import (
        MaxwellBoltzmannDistribution as thermalize_momenta,
    )

SEEDS = Path(__file__).parent / "data" / "pdo_seeds.xyz"


def seed(system):
    return next(a for a in read(SEEDS, ":") if a.info["system"] == system)


def md(run, out, steps):
    """NVE of the PdO seed with the trained force field; the energy drift."""
    atoms = seed("PdO-2x2x1")
    atoms.calc = asegen.load(run, device="cpu")
    thermalize_momenta(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    energies = []
    dyn.attach(lambda: energies.append(atoms.get_total_energy()), interval=1)
    dyn.run(steps)
    energies = np.array(energies) / len(atoms)
    fig = Figure(figsize=(5, 3))
    ax = fig.subplots()
    ax.plot(np.arange(len(energies)), 1000 * (energies - energies[0]))
    ax.set(xlabel="step (1 fs)", ylabel="total energy - start (meV/atom)",
           title=f"NVE, {len(atoms)}-atom PdO, trained force field")  # fmt: skip
    fig.tight_layout()
    fig.savefig(out / "md_energy.png", dpi=120)
    return float(np.ptp(energies))


def relaxed(atoms, calc, steps):
    atoms = atoms.copy()
    atoms.calc = calc
    FIRE(FrechetCellFilter(atoms), logfile=None).run(fmax=0.05, steps=steps)
    return atoms


def crystals(out, n, steps):
    """Pd4O4 from the bundled generator, relaxed with the bundled force field."""
    from ase.visualize.plot import plot_atoms

    calc = asegen.load("pdo", device="cpu")
    samples = asegen.load("pdo-bulk", device="cpu").sample(n, formula="Pd4O4", seed=0)
    make_pdo = _make_pdo()
    is_pdo = make_pdo.is_pdo
    reference = relaxed(make_pdo.pdo((1, 1, 2)), calc, 200)
    finals = [relaxed(a, calc, steps) for a in samples]
    hits = [is_pdo(a, reference) for a in finals]
    columns = min(4, n)
    rows = -(-n // columns)
    fig = Figure(figsize=(2.2 * columns, 2.4 * rows))
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax, atoms, hit in zip(axes, finals, hits, strict=False):
        plot_atoms(atoms, ax, radii=0.6, rotation="10x,20y,0z")
        energy = atoms.get_potential_energy() / len(atoms)
        ax.set_title(f"{energy:.2f} eV/atom" + (" PdO" if hit else ""), fontsize=8)
        ax.axis("off")
    for ax in axes[len(finals) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "pd4o4_gallery.png", dpi=110)
    return sum(hits), len(finals)


def _card_hits():
    """The PdO count of the bundled generator's card, as text."""
    metrics = asegen.pretrained.card("pdo-bulk")["metrics"]
    return next(
        f"{value} of {key.split('(of ')[1].rstrip(')')}"
        for key, value in metrics.items()
        if key.startswith("Pd4O4 samples relaxing onto")
    )


def _make_pdo():
    """The module ``scripts/make_pdo.py``: PdO cells and the PdO check."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import make_pdo

    return make_pdo


def molecules(n):
    """Molecules from the bundled placer, checked with RDKit."""
    placed = asegen.load("qm9", device="cpu").sample(n, seed=0)
    return evaluate_molecules(placed), len(placed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="the trained run directory")
    parser.add_argument("out", type=Path, help="where REPORT.md and figures go")
    parser.add_argument("--small", action="store_true", help="fewer steps and samples")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    run = Path(args.run)
    steps, n_crystals, n_molecules = (20, 2, 8) if args.small else (200, 8, 100)

    drift = md(run, args.out, steps)
    for name in ("parity_energy.png", "parity_forces.png", "loss_curves.png"):
        if (run / name).exists():
            shutil.copy(run / name, args.out / name)
    hits, total = crystals(args.out, n_crystals, 60 if args.small else 300)
    report, finished = molecules(n_molecules)

    lines = [
        "# asegen demo report",
        "",
        "## A force field distilled from the bundled one",
        f"`{run}`: an ALIGNN force field trained on Pd-O structures that the",
        "bundled `pdo` force field grew and labelled (`asegen augment`).",
        "",
        "![energy parity](parity_energy.png) ![force parity](parity_forces.png)",
        "",
        f"NVE, {steps} steps of 1 fs on 16-atom PdO: total energy spread "
        f"{1000 * drift:.2f} meV/atom.",
        "",
        "![MD energy](md_energy.png)",
        "",
        "## Pd4O4 crystals from the bundled generator",
        f"{total} samples of `asegen sample --formula Pd4O4` (`pdo-bulk`), relaxed",
        f"with `pdo` (atoms and cell): {hits} of {total} land on tetragonal PdO"
        f" (the model card: {_card_hits()}).",
        "",
        "![Pd4O4 samples](pd4o4_gallery.png)",
        "",
        "## Molecules from the bundled placer",
        f"`asegen place -n {n_molecules}` (`qm9`): {finished} finished; RDKit check:",
        "",
        "```",
        report.table(),
        "```",
    ]
    (args.out / "REPORT.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'REPORT.md'}")


if __name__ == "__main__":
    main()
