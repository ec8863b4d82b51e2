"""Pair distances of one structure in numpy: the one place they are computed.

:func:`pair_list` pairs :func:`~asegen.graph.neighbor_list` with the length of
every pair vector ``positions[j] - positions[i] + S @ cell``;
:func:`pair_distances` gives those lengths for pairs found elsewhere (a skin
list, a cached search). Evaluation, distillation, diffusion and the
separation check read their distances here.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from ase import Atoms

from asegen.graph._neighbours import neighbor_list

__all__ = ["Pairs", "pair_distances", "pair_list"]


class Pairs(NamedTuple):
    """Directed pairs within a cutoff: centre and neighbour indices, distances (Å)."""

    i: np.ndarray
    j: np.ndarray
    d: np.ndarray


def pair_distances(atoms: Atoms, i: Any, j: Any, shifts: Any) -> np.ndarray:
    """Return the length (Å) of each pair vector ``i -> j`` with image ``shifts``.

    ``i``, ``j`` and ``shifts`` are a neighbour list's ``(E,)``, ``(E,)`` and
    ``(E, 3)`` arrays (numpy, or tensors, read on the CPU).
    """
    i, j, shifts = (
        p.detach().cpu().numpy() if hasattr(p, "detach") else np.asarray(p)
        for p in (i, j, shifts)
    )
    vectors = atoms.positions[j] - atoms.positions[i] + shifts @ atoms.cell.array
    return np.linalg.norm(vectors, axis=1)


def pair_list(atoms: Atoms, cutoff: float) -> Pairs:
    """Return the directed pairs of ``atoms`` within ``cutoff`` Å, with distances.

    The pairs of :func:`~asegen.graph.neighbor_list`: the minimum image and
    periodic images along periodic axes, an atom's own images included, both
    directions of every pair.
    """
    i, j, shifts = neighbor_list(atoms, cutoff)
    return Pairs(i, j, pair_distances(atoms, i, j, shifts))
