"""Periodic neighbour lists on top of matscipy's compiled search.

The result has the meaning of ASE's ``neighbor_list("ijS", atoms, cutoff)``:
directed pairs ``i -> j`` with integer image shifts ``S`` such that the pair
vector is ``positions[j] - positions[i] + S @ cell``; both directions of every
pair are present, and periodic images of an atom (``i == j``, ``S != 0``) are
included. matscipy does the search; this module fixes what it cannot do on its
own (a zero cell, atoms far outside non-periodic cell faces) and adds a
deterministic nearest-``K`` cut and alignn's ``cutoff_extra`` fallback.
"""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms
from matscipy.neighbours import neighbour_list as _matscipy_neighbour_list

from asegen._structures import check_atoms
from asegen.graph._torch_neighbours import (
    check_search_options,
    grown_cutoff,
    nearest_neighbors_torch,
    required_neighbors,
    too_few_neighbors,
)

__all__ = ["nearest_neighbors", "neighbor_list"]


def neighbor_list(
    atoms: Atoms,
    cutoff: float,
    *,
    max_neighbors: int | None = None,
    cutoff_extra: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the directed neighbour pairs of ``atoms`` within ``cutoff``.

    Parameters
    ----------
    atoms
        Any structure: periodic along all, some or none of its axes; the cell
        may be zero along non-periodic axes (a molecule) and atoms may lie
        outside the cell.
    cutoff
        Pair cutoff in Å; pairs with ``d < cutoff`` are returned (as in
        matscipy and ASE; two atoms at the same position are a pair too).
    max_neighbors
        If given, keep only the ``K`` nearest neighbours of every centre atom
        ``i``. Ties are broken deterministically: by distance (rounded to
        1e-8 Å), then by neighbour index ``j``, then by the shift ``S``
        (lexicographically). The cut is per centre atom, so ``i -> j`` may
        survive while ``j -> i`` does not.
    cutoff_extra
        alignn's fallback for sparse structures (``None``, the default: off).
        While some atom has fewer than ``max_neighbors`` neighbours (without
        a cap: none at all), the search is repeated with the cutoff grown by
        ``cutoff_extra`` Å, for the whole structure, until every atom has
        them; in a structure periodic along no axis an atom needs at most
        ``N - 1``. The nearest-``K`` cut then applies as usual. Pairs beyond
        ``cutoff`` appear only in structures that need them, so the pair set
        jumps when an atom's count crosses ``K``.

    Returns
    -------
    i, j : numpy.ndarray
        ``(E,)`` int64 centre and neighbour indices.
    S : numpy.ndarray
        ``(E, 3)`` int64 image shifts; zero along non-periodic axes.

    Raises
    ------
    asegen.errors.StructureError
        For non-finite positions or a zero-volume periodic cell.
    asegen.errors.ConfigError
        For a non-positive cutoff, ``max_neighbors`` or ``cutoff_extra``.
    """
    check_search_options(cutoff, max_neighbors, cutoff_extra)
    check_atoms(atoms)
    positions = np.asarray(atoms.positions, dtype=np.float64)
    cell = np.asarray(atoms.cell, dtype=np.float64)
    pbc = np.asarray(atoms.pbc, dtype=bool)
    i, j, shifts, d = _search(positions, cell, pbc, cutoff)
    if cutoff_extra is not None:
        n = len(positions)
        required = required_neighbors(n, pbc, max_neighbors)
        steps = 0
        while too_few_neighbors(torch.from_numpy(i), n, required):
            steps += 1
            wider = grown_cutoff(float(cutoff), cutoff_extra, steps)
            i, j, shifts, d = _search(positions, cell, pbc, wider)
    if max_neighbors is not None:
        i, j, shifts, d = nearest_neighbors(i, j, shifts, d, max_neighbors)
    return i, j, shifts


def _search(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run matscipy on a cell that encloses the atoms along non-periodic axes."""
    if len(positions) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros((0, 3), dtype=np.int64), np.zeros(0)
    origin = np.zeros(3)
    if not pbc.all():
        cell, origin = _enclosing_cell(positions, cell, pbc, cutoff)
    i, j, d, shifts = _matscipy_neighbour_list(
        "ijdS",
        positions=positions,
        cell=cell,
        pbc=pbc,
        cutoff=float(cutoff),
        cell_origin=origin,
    )
    return i.astype(np.int64), j.astype(np.int64), shifts.astype(np.int64), d


def _enclosing_cell(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float
) -> tuple[np.ndarray, np.ndarray]:
    """Replace non-periodic cell rows by orthogonal vectors spanning the atoms.

    The pair set depends only on the periodic rows (shifts are zero along the
    other axes), so the non-periodic rows may be chosen freely. Orthonormal
    directions perpendicular to the periodic rows, scaled to the extent of the
    atoms plus a margin, with the origin at the lowest atom, keep every atom
    inside the box and matscipy's binning efficient.
    """
    periodic_rows = cell[pbc]
    # Right singular vectors beyond the rank of the periodic rows span their
    # orthogonal complement.
    basis = np.linalg.svd(
        np.vstack([periodic_rows, np.zeros((3 - len(periodic_rows), 3))])
    )[2]
    complement = basis[len(periodic_rows) :]
    new_cell = cell.copy()
    new_cell[~pbc] = complement
    if np.linalg.det(new_cell) < 0:  # keep the box right-handed
        complement[0] *= -1.0
    projections = positions @ complement.T  # (N, 3 - n_periodic)
    low = projections.min(axis=0)
    extent = projections.max(axis=0) - low
    new_cell[~pbc] = complement * (extent + cutoff)[:, None]
    origin = (low - 0.5 * cutoff) @ complement
    return new_cell, origin


def nearest_neighbors(
    i: np.ndarray,
    j: np.ndarray,
    shifts: np.ndarray,
    d: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Keep the ``k`` nearest neighbours of every centre, ties broken stably.

    Ties are ordered by distance rounded to 1e-8 Å, then neighbour index, then
    shift; the survivors keep their input order. One implementation serves
    numpy and torch: this wraps ``nearest_neighbors_torch``.
    """
    i, j, shifts, d = nearest_neighbors_torch(
        *(torch.from_numpy(np.ascontiguousarray(a)) for a in (i, j, shifts, d)), k
    )
    return i.numpy(), j.numpy(), shifts.numpy(), d.numpy()
