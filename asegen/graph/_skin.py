"""Neighbour-list reuse with a skin, for repeated evaluations of one structure."""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms
from torch import Tensor

from asegen._config import check_choice
from asegen.graph._neighbours import nearest_neighbors, neighbor_list
from asegen.graph._torch_neighbours import (
    nearest_neighbors_torch,
    required_neighbors,
    too_few_neighbors,
    torch_neighbor_list,
)

__all__ = ["SkinNeighborList"]

Pairs = tuple[np.ndarray, np.ndarray, np.ndarray] | tuple[Tensor, Tensor, Tensor]


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
    max_neighbors, cutoff_extra
        As in :func:`~asegen.graph.neighbor_list`. With ``cutoff_extra``, a
        geometry in which some atom lacks neighbours within ``cutoff`` gets a
        fresh search with the fallback (not kept for reuse).
    backend
        ``"matscipy"``: :func:`~asegen.graph.neighbor_list` on the CPU,
        ``(i, j, S)`` as numpy arrays. ``"torch"``:
        :func:`~asegen.graph.torch_neighbor_list` on ``device``, the pairs
        as int64 tensors there.
    device
        Device of the torch backend (default CPU).
    """

    def __init__(
        self,
        cutoff: float,
        skin: float = 1.0,
        *,
        max_neighbors: int | None = None,
        cutoff_extra: float | None = None,
        backend: str = "matscipy",
        device: torch.device | str | None = None,
    ) -> None:
        check_choice("backend", backend, ("matscipy", "torch"))
        self.cutoff = cutoff
        self.skin = skin
        self.max_neighbors = max_neighbors
        self.cutoff_extra = cutoff_extra
        self.backend = backend
        self.device = torch.device(device or "cpu")
        self.searches = 0  # how many full searches were run (for tests and stats)
        self._key: tuple[bytes, ...] | None = None
        self._positions: np.ndarray | None = None
        self._candidates: Pairs | None = None

    def __call__(self, atoms: Atoms) -> Pairs:
        """Return ``(i, j, S)`` for ``atoms`` as a fresh search would."""
        if self.skin <= 0:
            self.searches += 1
            return self._search(
                atoms, self.cutoff, self.max_neighbors, self.cutoff_extra
            )
        key = (
            atoms.numbers.tobytes(),
            np.asarray(atoms.cell).tobytes(),
            np.asarray(atoms.pbc).tobytes(),
        )
        if (
            key != self._key
            or self._positions is None
            or np.linalg.norm(atoms.positions - self._positions, axis=1).max(
                initial=0.0
            )
            > 0.5 * self.skin
        ):
            self._candidates = self._search(atoms, self.cutoff + self.skin, None)
            self._key = key
            self._positions = atoms.positions.copy()
            self.searches += 1
        assert self._candidates is not None
        if self.cutoff_extra is not None and self._sparse(atoms):
            self.searches += 1  # the fallback grows the cutoff: search afresh
            return self._search(
                atoms, self.cutoff, self.max_neighbors, self.cutoff_extra
            )
        if self.backend == "matscipy":
            return self._filter_numpy(atoms, *self._candidates)
        return self._filter_torch(atoms, *self._candidates)

    def _sparse(self, atoms: Atoms) -> bool:
        """Whether some atom lacks the neighbours the fallback asks for."""
        assert self._candidates is not None
        i, j, shifts = (torch.as_tensor(a) for a in self._candidates)
        positions, cell = self._tensors(atoms, i.device)
        vectors = positions[j] - positions[i] + shifts.to(cell.dtype) @ cell
        inside = torch.einsum("ij,ij->i", vectors, vectors) < self.cutoff**2
        required = required_neighbors(len(atoms), atoms.pbc, self.max_neighbors)
        return too_few_neighbors(i[inside], len(atoms), required)

    def _filter_numpy(
        self, atoms: Atoms, i: np.ndarray, j: np.ndarray, shifts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Keep the candidates within the cutoff now (numpy: cheap when small)."""
        positions = atoms.positions
        vectors = positions[j] - positions[i] + shifts @ atoms.cell.array
        d2 = np.einsum("ij,ij->i", vectors, vectors)
        keep = d2 < self.cutoff**2  # as in the search itself
        i, j, shifts = i[keep], j[keep], shifts[keep]
        if self.max_neighbors is not None:
            i, j, shifts, _ = nearest_neighbors(
                i, j, shifts, np.sqrt(d2[keep]), self.max_neighbors
            )
        return i, j, shifts

    def _filter_torch(
        self, atoms: Atoms, i: Tensor, j: Tensor, shifts: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Keep the candidates within the cutoff now, on the candidates' device."""
        positions, cell = self._tensors(atoms, i.device)
        vectors = positions[j] - positions[i] + shifts.to(cell.dtype) @ cell
        d2 = torch.einsum("ij,ij->i", vectors, vectors)
        keep = d2 < self.cutoff**2
        i, j, shifts = i[keep], j[keep], shifts[keep]
        if self.max_neighbors is not None:
            i, j, shifts, _ = nearest_neighbors_torch(
                i, j, shifts, d2[keep].sqrt(), self.max_neighbors
            )
        return i, j, shifts

    def _search(
        self,
        atoms: Atoms,
        cutoff: float,
        max_neighbors: int | None,
        cutoff_extra: float | None = None,
    ) -> Pairs:
        """Run a full search with the chosen backend."""
        if self.backend == "matscipy":
            return neighbor_list(
                atoms, cutoff, max_neighbors=max_neighbors, cutoff_extra=cutoff_extra
            )
        positions, cell = self._tensors(atoms, self.device)
        return torch_neighbor_list(
            positions,
            cell,
            atoms.pbc,
            cutoff,
            max_neighbors=max_neighbors,
            cutoff_extra=cutoff_extra,
        )

    @staticmethod
    def _tensors(atoms: Atoms, device: torch.device) -> tuple[Tensor, Tensor]:
        """Positions and cell of ``atoms`` as float64 tensors on ``device``."""
        positions = torch.as_tensor(atoms.positions, dtype=torch.float64, device=device)
        cell = torch.as_tensor(atoms.cell.array, dtype=torch.float64, device=device)
        return positions, cell
