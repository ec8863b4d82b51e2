"""Relax PdO and run MD with the bundled Pd-O force field, as an ASE calculator.

``ALIGNNCalculator.load("pdo")`` is the ALIGNN force field bundled with
asegen (no download; ``asegen info pdo`` prints its card); a run directory or
checkpoint of ``asegen train alignn`` works the same. The script relaxes a
16-atom tetragonal PdO cell (atoms and cell, ``FrechetCellFilter``), then runs
NVE dynamics from 300 K and reports the energy drift, and a Langevin
thermostat run at 600 K with its mean temperature.

    python examples/alignn_md.py [MODEL] [--steps 200] [--small]
"""

import argparse
from pathlib import Path

import numpy as np
from ase import units
from ase.filters import FrechetCellFilter
from ase.io import read
from ase.md.langevin import Langevin
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS

import asegen
from asegen.calculators import ALIGNNCalculator

try:  # ASE >= 3.29
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:  # older ASE: the same distribution under its former name
    from ase.md.velocitydistribution import (
        MaxwellBoltzmannDistribution as thermalize_momenta,
    )

SEEDS = Path(__file__).parent / "data" / "pdo_seeds.xyz"


def main() -> None:
    asegen.tune_allocator()  # before torch allocates: faster small cells
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="pdo", help="name, run or .pt")
    parser.add_argument("--steps", type=int, default=200, help="MD steps per run")
    parser.add_argument("--small", action="store_true", help="20 MD steps")
    args = parser.parse_args()
    steps = 20 if args.small else args.steps

    atoms = next(a for a in read(SEEDS, ":") if a.info["system"] == "PdO-2x2x1")
    atoms.calc = ALIGNNCalculator.load(args.model, device="cpu")
    n = len(atoms)
    volume = atoms.get_volume()
    print(f"{atoms.get_chemical_formula()}: E = "
          f"{atoms.get_potential_energy() / n:.4f} eV/atom, "
          f"max |F| = {np.abs(atoms.get_forces()).max():.3f} eV/Å")  # fmt: skip

    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=0.02, steps=100)
    a, _, c = atoms.cell.lengths()
    print(f"relaxed: E = {atoms.get_potential_energy() / n:.4f} eV/atom, "
          f"max |F| = {np.abs(atoms.get_forces()).max():.3f} eV/Å, "
          f"a = {a / 2:.3f} Å, c = {c:.3f} Å, "
          f"volume {100 * (atoms.get_volume() / volume - 1):+.1f} %")  # fmt: skip

    rng = np.random.default_rng(0)
    thermalize_momenta(atoms, temperature_K=300, rng=rng)
    totals = []
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs, logfile=None)
    dyn.attach(lambda: totals.append(atoms.get_total_energy()), interval=1)
    dyn.run(steps)
    drift = (totals[-1] - totals[0]) / n
    spread = np.ptp(totals) / n
    print(f"NVE, {steps} steps of 1 fs: drift {drift * 1e3:+.3f} meV/atom, "
          f"spread {spread * 1e3:.3f} meV/atom")  # fmt: skip

    temperatures = []
    dyn = Langevin(
        atoms, 2.0 * units.fs, temperature_K=600, friction=0.02 / units.fs,
        fixcm=False, rng=rng,
    )  # fmt: skip
    dyn.attach(lambda: temperatures.append(atoms.get_temperature()), interval=1)
    dyn.run(steps)
    print(f"Langevin at 600 K, {steps} steps of 2 fs: mean T "
          f"{np.mean(temperatures[len(temperatures) // 2 :]):.0f} K "
          "over the second half")  # fmt: skip


if __name__ == "__main__":
    main()
