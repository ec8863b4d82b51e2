"""Label structures with any ASE calculator, one at a time or in batches.

Energy, forces and — for 3-D periodic structures when the calculator
implements it — stress are requested in one call. The calculator is told what
changed since its previous call (``check_state``, as ``atoms.get_forces()``
would), so calculators that keep neighbour lists reuse them between relaxation
steps. Results are copied, never shared with the calculator, and end up in a
:class:`SinglePointCalculator` on every structure the loop keeps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator, Calculator, all_changes
from ase.calculators.singlepoint import SinglePointCalculator
from ase.cell import Cell

from asegen.errors import StructureError

__all__ = [
    "calculator_failed",
    "copy_atoms",
    "copy_labels",
    "has_batch_hook",
    "label_batch",
    "label_one",
    "single_point",
]

_PLAIN_ARRAYS = {"numbers", "positions"}
_PLAIN_STATE = {
    "_cellobj",
    "_pbc",
    "arrays",
    "_celldisp",
    "_constraints",
    "info",
    "_calc",
}


def copy_atoms(atoms: Atoms) -> Atoms:
    """``atoms.copy()``, about three times faster for a plain ``Atoms``.

    Plain: of class ``Atoms`` itself, without constraints, with the
    attributes ``Atoms`` has in ASE 3.23-3.29; anything else is copied by
    ``atoms.copy()``. Like it, copies the cell, periodicity, arrays and cell
    displacement, copies ``info`` shallowly and leaves the calculator out.
    """
    state = atoms.__dict__
    if (
        type(atoms) is not Atoms
        or state.keys() != _PLAIN_STATE
        or state["_constraints"]
    ):
        return atoms.copy()
    copy = Atoms.__new__(Atoms)
    copy.__dict__.update(
        _cellobj=Cell(state["_cellobj"].array.copy()),
        _pbc=state["_pbc"].copy(),
        arrays={name: array.copy() for name, array in state["arrays"].items()},
        _celldisp=state["_celldisp"].copy(),
        _constraints=[],
        info=dict(state["info"]),
        _calc=None,
    )
    return copy


def default_batch_size(calculator: BaseCalculator) -> int:
    """Structures per batched call: the calculator's ``batch_size``, else 4.

    asegen's torch calculators choose 32 on a GPU and 4 on a CPU, where a
    structure costs as much inside a batch as alone and large batches are
    slower: a 128-feature ALIGNN labels Cu32 cells at 49–64 ms each in calls
    of 1–4 and 87–106 ms in calls of 8–32 (``benchmarks/augment/batching.py
    --case sizes``).
    """
    size = getattr(calculator, "batch_size", None)
    return size if isinstance(size, int) and size >= 1 else 4


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
    changes = all_changes if fresh else _changes(calculator, atoms)
    properties = ["energy", "forces"]
    if _wants_stress(calculator, atoms):
        properties.append("stress")
    calculator.reset()  # what ASE's get_property does when anything changed
    calculator.calculate(atoms, properties, changes)
    return {key: calculator.results[key] for key in properties}


def _changes(calculator: BaseCalculator, atoms: Atoms) -> list[str]:
    """``calculator.check_state(atoms)``, without ``np.allclose`` in the common case.

    The common case is ASE's own ``check_state`` after a relaxation step: the
    same plain atoms and cell, other positions. It returns what
    ``compare_atoms`` would (``tol`` 1e-15, no relative tolerance); anything
    else goes to ``check_state`` itself.
    """
    old = getattr(calculator, "atoms", None)
    if (
        old is None
        or type(calculator).check_state is not Calculator.check_state
        or calculator.ignored_changes
        or old.arrays.keys() != _PLAIN_ARRAYS
        or atoms.arrays.keys() != _PLAIN_ARRAYS
        or not np.array_equal(old.cell.array, atoms.cell.array)
        or not np.array_equal(old.pbc, atoms.pbc)
        or not np.array_equal(old.numbers, atoms.numbers)
        or old.positions.shape != atoms.positions.shape
    ):
        return calculator.check_state(atoms)
    moved = float(np.abs(old.positions - atoms.positions).max(initial=0.0))
    if not math.isfinite(moved):
        return calculator.check_state(atoms)
    return ["positions"] if moved > 1e-15 else []


def label_batch(
    calculator: BaseCalculator, images: Sequence[Atoms]
) -> list[dict[str, Any]]:
    """Evaluate many structures with one ``calculate_batch`` call."""
    return calculator.calculate_batch(list(images), batch_size=max(1, len(images)))


def calculator_failed(
    calculator: BaseCalculator, error: Exception, what: str, fix: str
) -> StructureError:
    """Make the one-line error for a calculator that raised ``error``.

    Parameters
    ----------
    calculator
        The calculator that failed.
    error
        What it raised; the first line of its message is kept.
    what
        The structure(s) it failed on, e.g. ``"starting structure 2 of in.xyz"``.
    fix
        What the user can do about it.
    """
    lines = str(error).strip().splitlines()
    reason = type(error).__name__ + (f": {lines[0]}" if lines else "")
    return StructureError(
        f"the calculator {type(calculator).__name__} failed on {what} with "
        f"{reason}; {fix}"
    )


def copy_labels(atoms: Atoms, results: dict[str, Any]) -> dict[str, Any]:
    """Copy energy (as a float), forces and, for 3-D periodic ``atoms``, stress."""
    labels: dict[str, Any] = {
        "energy": float(results["energy"]),
        "forces": np.array(results["forces"], dtype=np.float64),  # a copy
    }
    stress = results.get("stress")
    if stress is not None and atoms.pbc.all():
        labels["stress"] = np.array(stress, dtype=np.float64)
    return labels


def single_point(atoms: Atoms, labels: dict[str, Any]) -> SinglePointCalculator:
    """``SinglePointCalculator(atoms, **labels)``, its copy of ``atoms`` made faster.

    The calculator keeps ``atoms.copy()`` to tell later changes of ``atoms``;
    it is handed a stand-in whose ``copy()`` is :func:`copy_atoms`.
    """
    return SinglePointCalculator(_FastCopy(atoms), **labels)


class _FastCopy:
    """``atoms`` in every respect but ``copy()``, which is :func:`copy_atoms`."""

    def __init__(self, atoms: Atoms) -> None:
        object.__setattr__(self, "_atoms", atoms)

    def copy(self) -> Atoms:
        return copy_atoms(self._atoms)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._atoms, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._atoms, name, value)

    def __len__(self) -> int:
        return len(self._atoms)
