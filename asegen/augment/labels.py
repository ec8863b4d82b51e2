"""Label structures with any ASE calculator, one at a time or in batches.

Energy, forces and — for 3-D periodic structures when the calculator
implements it — stress are requested in one call. The calculator is told what
changed since its previous call (``check_state``, as ``atoms.get_forces()``
would), so calculators that keep neighbour lists reuse them between relaxation
steps. Results are copied into a :class:`SinglePointCalculator` on the labelled
structure, never shared with the calculator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator, all_changes
from ase.calculators.singlepoint import SinglePointCalculator

__all__ = ["attach_labels", "has_batch_hook", "label_batch", "label_one"]


def has_batch_hook(calculator: BaseCalculator) -> bool:
    """Whether ``calculator`` evaluates many structures per call.

    Duck-typed on a ``calculate_batch(images, *, batch_size)`` method returning
    one results dictionary per structure (as
    :meth:`asegen.calculators.TorchCalculator.calculate_batch`).
    """
    return callable(getattr(calculator, "calculate_batch", None))


def _wants_stress(calculator: BaseCalculator, atoms: Atoms) -> bool:
    return bool(atoms.pbc.all()) and "stress" in calculator.implemented_properties


def label_one(
    calculator: BaseCalculator, atoms: Atoms, *, fresh: bool
) -> dict[str, Any]:
    """Evaluate ``atoms`` in one ``calculate`` call and return copies of the labels.

    Parameters
    ----------
    calculator
        Any ASE calculator.
    atoms
        The structure (its own calculator is ignored).
    fresh
        Forget the calculator's previous geometry first, so the result does not
        depend on what it evaluated before (used at the start of every slot).
    """
    changes = all_changes if fresh else calculator.check_state(atoms)
    properties = ["energy", "forces"]
    if _wants_stress(calculator, atoms):
        properties.append("stress")
    calculator.reset()  # what ASE's get_property does when anything changed
    calculator.calculate(atoms, properties, changes)
    return {key: calculator.results[key] for key in properties}


def label_batch(
    calculator: BaseCalculator, images: Sequence[Atoms]
) -> list[dict[str, Any]]:
    """Evaluate many structures with one ``calculate_batch`` call."""
    return calculator.calculate_batch(list(images), batch_size=max(1, len(images)))


def attach_labels(atoms: Atoms, results: dict[str, Any]) -> None:
    """Store copies of energy, forces and stress in a ``SinglePointCalculator``."""
    labels: dict[str, Any] = {
        "energy": float(results["energy"]),
        "forces": np.array(results["forces"], dtype=np.float64),  # a copy
    }
    stress = results.get("stress")
    if stress is not None and atoms.pbc.all():
        labels["stress"] = np.array(stress, dtype=np.float64)
    atoms.calc = SinglePointCalculator(atoms, **labels)
