"""Held-out parity of a student calculator against the teacher's labels."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units

from asegen.train.plots import plot_parity

__all__ = ["parity"]

#: name -> (axis label, unit in the JSON, factor from ASE units to it)
QUANTITIES = {
    "energy": ("energy per atom (eV/atom)", "meV/atom", 1000.0),
    "forces": ("force component (eV/Å)", "meV/Å", 1000.0),
    "stress": ("stress component (eV/Å³)", "GPa", 1.0 / units.GPa),
}


def parity(
    calculator: Any, images: Sequence[Atoms], out: str | os.PathLike
) -> dict[str, Any]:
    """Compare ``calculator`` with the labels of ``images``; write parity plots.

    Energy per atom and force components are compared on every structure,
    stress (Voigt, ASE's sign) on the periodic ones that carry a stress
    label. ``OUT/parity_{energy,forces,stress}.png`` are drawn with the
    training engine's parity plot.

    Parameters
    ----------
    calculator
        A calculator with ``calculate_batch`` (an asegen calculator).
    images
        Labelled structures (``SinglePointCalculator`` results).
    out
        Folder of the plots.

    Returns
    -------
    dict
        For each quantity with values: ``mae`` and ``rmse`` in the unit of
        :data:`QUANTITIES`, ``unit`` and ``values`` (how many were compared);
        and ``structures``.
    """
    images = list(images)
    predicted = calculator.calculate_batch(images)
    pairs: dict[str, list[np.ndarray]] = {name: [] for name in QUANTITIES}
    for atoms, result in zip(images, predicted, strict=True):
        labels = atoms.calc.results
        n = len(atoms)
        pairs["energy"].append(np.array([[labels["energy"] / n, result["energy"] / n]]))
        if "forces" in labels:
            pairs["forces"].append(
                np.stack([labels["forces"].ravel(), result["forces"].ravel()], axis=1)
            )
        if atoms.pbc.all() and "stress" in labels and "stress" in result:
            true = np.asarray(labels["stress"]).reshape(-1)
            if true.size == 9:
                true = true.reshape(3, 3)[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
            pairs["stress"].append(np.stack([true, result["stress"]], axis=1))
    report: dict[str, Any] = {"structures": len(images)}
    folder = Path(out)
    for name, parts in pairs.items():
        if not parts:
            continue
        values = np.concatenate(parts)
        label, unit, factor = QUANTITIES[name]
        plot_parity(folder / f"parity_{name}.png", values, label, name)
        error = factor * (values[:, 1] - values[:, 0])
        report[name] = {
            "mae": float(np.abs(error).mean()),
            "rmse": float(np.sqrt((error**2).mean())),
            "unit": unit,
            "values": len(values),
        }
    return report
