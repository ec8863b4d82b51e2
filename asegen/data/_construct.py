"""Construct ``Atoms`` and their ``SinglePointCalculator`` at read speed.

Reading one random structure of 30 atoms costs about 6 µs of I/O, while
``Atoms(numbers=..., positions=..., cell=..., pbc=...)`` costs about 9 µs and
``SinglePointCalculator(atoms)`` about 18 µs, mostly in ``atoms.copy()``. The
*direct* path fills the seven attributes of a bare ``Atoms`` (about 2 µs) and
gives the calculator such a direct copy, cutting a random read roughly in half.
It depends on ASE's private attribute layout, so on first use it is checked
against ASE's public constructors; if they differ (a newer ASE), the public
constructors are used: slower, equally correct.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.cell import Cell

__all__ = ["new_atoms", "new_calculator"]


def new_atoms(
    numbers: np.ndarray, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray
) -> Atoms:
    """Return ``Atoms(numbers=..., positions=..., cell=..., pbc=...)`` (copies)."""
    if _direct_is_exact():
        return _direct_atoms(numbers, positions, cell, pbc)
    return Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc)


def new_calculator(atoms: Atoms, results: dict[str, Any]) -> SinglePointCalculator:
    """Return a ``SinglePointCalculator`` for ``atoms`` holding ``results``.

    Unlike ``SinglePointCalculator(atoms, **results)`` any result name is kept
    and values keep their dtype. ``atoms`` must not have ``info`` or
    constraints yet (they are not part of the calculator's copy).
    """
    if _direct_is_exact():
        return _direct_calculator(atoms, results)
    calc = SinglePointCalculator(atoms)
    calc.results.update(results)
    return calc


def _direct_atoms(
    numbers: np.ndarray, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray
) -> Atoms:
    atoms = Atoms.__new__(Atoms)
    atoms.arrays = {
        "numbers": np.array(numbers, dtype=int),
        "positions": np.array(positions, dtype=float),
    }
    atoms._cellobj = Cell(np.array(cell, dtype=float))
    atoms._pbc = np.array(pbc, dtype=bool)
    atoms._celldisp = np.zeros((3, 1))
    atoms._constraints = []
    atoms.info = {}
    atoms._calc = None
    return atoms


def _direct_calculator(atoms: Atoms, results: dict[str, Any]) -> SinglePointCalculator:
    calc = SinglePointCalculator.__new__(SinglePointCalculator)
    Calculator.__init__(calc)
    calc.results = dict(results)
    copy = _direct_atoms(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc)
    for name, values in atoms.arrays.items():
        if name not in copy.arrays:
            copy.arrays[name] = values.copy()
    calc.atoms = copy
    return calc


@functools.cache
def _direct_is_exact() -> bool:
    """Whether the direct path builds the same objects as ASE's constructors."""
    args = ([1, 8], [[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]], np.eye(3), [True, False, True])
    public = Atoms(numbers=args[0], positions=args[1], cell=args[2], pbc=args[3])
    direct = _direct_atoms(*args)
    public.new_array("tags", np.array([1, 2]))
    direct.new_array("tags", np.array([1, 2]))
    public_calc = SinglePointCalculator(public, energy=1.0)
    direct_calc = _direct_calculator(direct, {"energy": 1.0})
    pairs = [(public, direct), (public_calc, direct_calc)]
    pairs.append((public_calc.atoms, direct_calc.atoms))
    return (
        all(_same_attributes(first, second) for first, second in pairs)
        and public == direct == direct_calc.atoms
        and public.arrays.keys() == direct_calc.atoms.arrays.keys()
        and np.array_equal(public.get_celldisp(), direct.get_celldisp())
        and not direct_calc.check_state(direct)
    )


def _same_attributes(first: object, second: object) -> bool:
    mine, theirs = vars(first), vars(second)
    return mine.keys() == theirs.keys() and all(
        type(mine[key]) is type(theirs[key]) for key in mine
    )
