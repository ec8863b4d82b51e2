"""Molecular dynamics with a trained ALIGNN force field, compared with EMT.

Loads a run directory (``asegen train alignn ...``), relaxes a Cu-Au cell with
BFGS, runs a short NVE trajectory and reports the energy drift, and compares
energies and forces with the EMT labels the model was trained on.

    python examples/alignn_md.py RUN_DIR [--steps 200] [--small]
"""

import argparse

import numpy as np
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS

import asegen


def alloy(repeat):
    atoms = bulk("Cu", "fcc", a=3.75, cubic=True).repeat(repeat)
    atoms.symbols[::2] = "Au"
    atoms.rattle(0.05, seed=1)
    return atoms


def main() -> None:
    asegen.tune_allocator()  # before torch allocates: 2-3x faster small cells
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run directory or checkpoint")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--small", action="store_true", help="a 4-atom cell, 20 steps")
    args = parser.parse_args()
    steps = 20 if args.small else args.steps
    atoms = alloy((1, 1, 1) if args.small else (2, 2, 2))

    calc = asegen.load(args.run, device="cpu")
    reference = atoms.copy()
    reference.calc = EMT()
    atoms.calc = calc
    error = np.abs(atoms.get_forces() - reference.get_forces()).mean()
    print(f"{len(atoms)} atoms: E = {atoms.get_potential_energy():.3f} eV "
          f"(EMT {reference.get_potential_energy():.3f} eV), "
          f"mean |F - F_EMT| = {error:.3f} eV/Å")  # fmt: skip

    BFGS(atoms, logfile=None).run(fmax=0.05, steps=50)
    print(f"relaxed: E = {atoms.get_potential_energy():.3f} eV")

    rng = np.random.default_rng(0)
    kt = 300 * units.kB
    masses = atoms.get_masses()[:, None]
    atoms.set_momenta(rng.normal(size=(len(atoms), 3)) * np.sqrt(masses * kt))
    totals = []
    dyn = VelocityVerlet(atoms, timestep=2.0 * units.fs, logfile=None)
    dyn.attach(lambda: totals.append(atoms.get_total_energy()), interval=1)
    dyn.run(steps)
    drift = (totals[-1] - totals[0]) / len(atoms)
    temperature = atoms.get_kinetic_energy() / (1.5 * units.kB * len(atoms))
    print(f"NVE, {steps} steps of 2 fs: drift {drift * 1e3:+.3f} meV/atom, "
          f"final T {temperature:.0f} K")  # fmt: skip


if __name__ == "__main__":
    main()
