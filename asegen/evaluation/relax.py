"""Energies of samples and reference: labels, single points and relaxations."""

from __future__ import annotations

import math
import sys
from typing import Any, NamedTuple

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms

from asegen.evaluation.metrics import mobile_mask

__all__ = ["Relaxations", "energy_per_atom", "labelled_energy", "relax", "relax_all"]


class Relaxations(NamedTuple):
    """Relaxed samples and their per-sample arrays (NaN where relaxation failed).

    Energies are per atom in eV, before and after relaxation; RMS
    displacements of the mobile atoms in Å.
    """

    relaxed: list[Atoms]
    energy_initial: np.ndarray
    energy_relaxed: np.ndarray
    rms_displacement: np.ndarray
    converged: np.ndarray


def labelled_energy(atoms: Atoms) -> float:
    """Energy per atom from ``info["energy_per_atom"]``, calculator results or info."""
    n = max(len(atoms), 1)
    if "energy_per_atom" in atoms.info:
        return float(atoms.info["energy_per_atom"])
    results = getattr(atoms.calc, "results", {}) if atoms.calc is not None else {}
    if "energy" in results:
        return float(results["energy"]) / n
    if "energy" in atoms.info:
        return float(atoms.info["energy"]) / n
    return math.nan


def energy_per_atom(atoms: Atoms, calculator: Any) -> float:
    """Return the energy per atom of a copy of ``atoms`` under ``calculator``."""
    image = atoms.copy()
    image.calc = calculator
    return float(image.get_potential_energy()) / max(len(image), 1)


def relax(
    atoms: Atoms, calculator: Any, held: int, optimizer: str, fmax: float, steps: int
) -> tuple[Atoms, float, float, float, bool]:
    """Relax a copy at fixed cell: atoms, E/atom before and after, RMS, converged.

    ``FixAtoms`` and the first ``held`` atoms stay in place. If the calculator
    raises or gives a non-finite energy, the energies and RMS are NaN.
    """
    from ase.optimize import BFGS, FIRE

    image = atoms.copy()
    if held:
        image.constraints = [*image.constraints, FixAtoms(indices=range(held))]
    image.calc = calculator
    start = image.positions.copy()
    try:
        initial = float(image.get_potential_energy()) / len(image)
        opt = (FIRE if optimizer == "FIRE" else BFGS)(image, logfile=None)
        converged = bool(opt.run(fmax=fmax, steps=steps))
        final = float(image.get_potential_energy()) / len(image)
    except Exception:  # a broken sample must not end the evaluation
        return image, math.nan, math.nan, math.nan, False
    if not (math.isfinite(initial) and math.isfinite(final)):
        return image, math.nan, math.nan, math.nan, False
    moved = (image.positions - start)[mobile_mask(image, held)]
    rms = float(np.sqrt((moved**2).sum(axis=1).mean())) if len(moved) else 0.0
    return image, initial, final, rms, converged


def relax_all(
    samples: list[Atoms],
    calculator: Any,
    held: int,
    settings: dict[str, Any],
    progress: bool,
) -> Relaxations:
    """Relax every sample with :func:`relax`, as ``settings`` ask.

    ``settings`` holds ``optimizer``, ``fmax`` and ``relax_steps``; with
    ``progress``, a progress bar shows on stderr (when on a terminal).
    """
    from tqdm import tqdm

    s = settings
    bar = tqdm(
        samples,
        unit=" structures",
        desc="relaxing",
        file=sys.stderr,
        disable=None if progress else True,  # None: off when not a terminal
    )
    with bar:
        results = [
            relax(atoms, calculator, held, s["optimizer"], s["fmax"], s["relax_steps"])
            for atoms in bar
        ]
    values = np.array([r[1:] for r in results], dtype=float).reshape(-1, 4)
    return Relaxations(
        relaxed=[r[0] for r in results],
        energy_initial=values[:, 0],
        energy_relaxed=values[:, 1],
        rms_displacement=values[:, 2],
        converged=values[:, 3] > 0,
    )
