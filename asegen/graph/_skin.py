"""Neighbour-list reuse with a skin, for repeated evaluations of one structure."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from asegen.graph._neighbours import nearest_neighbors, neighbor_list

__all__ = ["SkinNeighborList"]


class SkinNeighborList:
    """A neighbour list that is rebuilt only when atoms moved more than ``skin / 2``.

    Candidates are searched once within ``cutoff + skin``; each call keeps
    those within ``cutoff`` at the current positions (and, with
    ``max_neighbors``, the nearest ``K`` of them). The result equals a fresh
    :func:`~asegen.graph.neighbor_list` as long as no atom moved more than
    half the skin since the last search and numbers, cell and pbc are
    unchanged; otherwise the search is redone.

    Parameters
    ----------
    cutoff
        Pair cutoff, Å.
    skin
        Extra search distance, Å (0 disables reuse).
    max_neighbors
        As in :func:`~asegen.graph.neighbor_list`.
    """

    def __init__(
        self, cutoff: float, skin: float = 1.0, *, max_neighbors: int | None = None
    ) -> None:
        self.cutoff = cutoff
        self.skin = skin
        self.max_neighbors = max_neighbors
        self.searches = 0  # how many full searches were run (for tests and stats)
        self._key: tuple[bytes, ...] | None = None
        self._positions: np.ndarray | None = None
        self._candidates: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def __call__(self, atoms: Atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(i, j, S)`` for ``atoms`` as :func:`neighbor_list` would."""
        if self.skin <= 0:
            self.searches += 1
            return neighbor_list(atoms, self.cutoff, max_neighbors=self.max_neighbors)
        key = (
            atoms.numbers.tobytes(),
            np.asarray(atoms.cell).tobytes(),
            np.asarray(atoms.pbc).tobytes(),
        )
        positions = atoms.positions
        if (
            key != self._key
            or self._positions is None
            or np.linalg.norm(positions - self._positions, axis=1).max(initial=0.0)
            > 0.5 * self.skin
        ):
            self._candidates = neighbor_list(atoms, self.cutoff + self.skin)
            self._key = key
            self._positions = positions.copy()
            self.searches += 1
        assert self._candidates is not None
        i, j, shifts = self._candidates
        d = np.linalg.norm(
            positions[j] - positions[i] + shifts @ atoms.cell.array, axis=1
        )
        keep = d <= self.cutoff
        i, j, shifts, d = i[keep], j[keep], shifts[keep], d[keep]
        if self.max_neighbors is not None:
            i, j, shifts, d = nearest_neighbors(i, j, shifts, d, self.max_neighbors)
        return i, j, shifts
