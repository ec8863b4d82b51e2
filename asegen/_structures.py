"""Checks on ``ase.Atoms`` shared by the graph and data layers."""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms

from asegen.errors import DataFormatError, StructureError

__all__ = [
    "MIN_DISTANCE",
    "check_atoms",
    "check_separation",
    "fixed_mask",
    "property_value",
]

#: Å: no two atoms of a real structure are this close; closer ones are a mistake.
MIN_DISTANCE = 0.1
_MIN_PERIODIC_VOLUME = 1e-8  # Å^d: below this the periodic lattice is degenerate


def fixed_mask(atoms: Atoms) -> np.ndarray:
    """Return a boolean mask of the atoms fixed by ``FixAtoms`` constraints.

    Other constraints are not looked at; several ``FixAtoms`` add up.
    """
    mask = np.zeros(len(atoms), dtype=bool)
    for constraint in atoms.constraints:
        if isinstance(constraint, FixAtoms):
            mask[constraint.get_indices()] = True
    return mask


def check_atoms(atoms: Atoms, *, name: str = "structure") -> None:
    """Raise :class:`StructureError` if ``atoms`` cannot be used as given.

    Positions and cell must be finite, and the lattice vectors of the
    periodic axes must span a non-degenerate lattice (a zero-volume cell with
    ``pbc`` is rejected; non-periodic axes may have any cell vector, zero
    included).

    Parameters
    ----------
    atoms
        The structure to check.
    name
        How the message refers to it, e.g. ``"structure 3 of train.xyz"``.
    """
    positions = atoms.positions
    if not np.isfinite(positions).all():
        bad = int(np.flatnonzero(~np.isfinite(positions).all(axis=1))[0])
        raise StructureError(
            f"{name} has a non-finite position (atom {bad}); "
            "remove or fix the structure before using it"
        )
    cell = np.asarray(atoms.cell)
    if not np.isfinite(cell).all():
        raise StructureError(f"{name} has a non-finite cell; set a finite cell")
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if pbc.any():
        rows = cell[pbc]
        volume = np.sqrt(max(np.linalg.det(rows @ rows.T), 0.0))
        if volume < _MIN_PERIODIC_VOLUME:
            axes = "".join("xyz"[k] for k in np.flatnonzero(pbc))
            raise StructureError(
                f"{name} is periodic along {axes} but its cell has zero volume "
                f"there (pbc={pbc.tolist()}); set a cell with atoms.set_cell(...) "
                "or turn periodicity off with atoms.pbc = False"
            )


def check_separation(
    atoms: Atoms, name: str, pairs: tuple[Any, Any, Any] | None = None
) -> None:
    """Raise :class:`StructureError` if two atoms are closer than :data:`MIN_DISTANCE`.

    Parameters
    ----------
    atoms
        The structure to check.
    name
        How the message refers to it, e.g. ``"structure 3 of train.xyz"``.
    pairs
        ``(i, j, S)`` of a neighbour list of ``atoms`` with a cutoff of at
        least :data:`MIN_DISTANCE` (numpy arrays or tensors), which saves the
        search; by default one is searched.
    """
    from asegen.graph import neighbor_list, pair_distances

    i, j, shifts = neighbor_list(atoms, cutoff=MIN_DISTANCE) if pairs is None else pairs
    d = pair_distances(atoms, i, j, shifts)
    close = np.flatnonzero(d < MIN_DISTANCE)
    if close.size:
        k = close[np.argmin(d[close])]
        raise StructureError(
            f"{name} has atoms {int(i[k])} and {int(j[k])} {d[k]:.3g} Å apart, "
            f"closer than {MIN_DISTANCE} Å; fix or remove the structure"
        )


def property_value(atoms: Atoms, name: str, where: str) -> float:
    """Return property ``name`` of ``atoms``: ``info``, then calculator results.

    ``energy_per_atom`` is derived from the energy when not stored.

    Raises
    ------
    asegen.errors.DataFormatError
        If the structure does not carry the property (naming ``where``), or
        it is not a finite number.
    """
    results = atoms.calc.results if atoms.calc is not None else {}
    if name in atoms.info:
        value = atoms.info[name]
    elif name in results:
        value = results[name]
    elif name == "energy_per_atom" and "energy" in results:
        value = results["energy"] / len(atoms)
    else:
        raise DataFormatError(
            f"{where} has no property {name!r} (in atoms.info or its calculator "
            "results); label every structure or stop conditioning on it"
        )
    try:
        number = float(np.asarray(value, dtype=float).reshape(()))
    except (TypeError, ValueError):
        raise DataFormatError(
            f"{where}: property {name!r} = {value!r} is not a number"
        ) from None
    if not np.isfinite(number):
        raise DataFormatError(
            f"{where}: property {name!r} is {number}; give a finite value"
        )
    return number
