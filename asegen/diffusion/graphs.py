"""Graphs of structures that diffusion moves: built without edges, edged on demand."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms
from torch import Tensor

from asegen.graph import (
    AtomsGraph,
    SkinNeighborList,
    atoms_to_graph,
    open_neighbor_list,
    open_pair_count,
)

__all__ = ["EdgeCache", "state_graph", "to_atoms", "with_edges"]

_NO_PAIRS = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros((0, 3)))


def state_graph(images: Sequence[Atoms], dtype: torch.dtype) -> AtomsGraph:
    """Return the structures as one graph without edges (labels as stored)."""
    return atoms_to_graph(images, pairs=[_NO_PAIRS] * len(images), dtype=dtype)


def to_atoms(graph: AtomsGraph, *, geometry_only: bool = False) -> list[Atoms]:
    """Return each structure's numbers, positions, cell and pbc as ``Atoms``.

    With ``geometry_only`` every atomic number is 0: what a neighbour search
    needs, and a search cache keyed on numbers is not voided by type changes.
    """
    numbers = graph.numbers.cpu().numpy()
    if geometry_only:
        numbers = np.zeros_like(numbers)
    positions = graph.positions.detach().double().cpu().numpy()
    cells = graph.cell.detach().double().cpu().numpy()
    pbc = graph.pbc.cpu().numpy()
    bounds = np.cumsum([0, *graph.n_atoms.tolist()])
    return [
        Atoms(
            numbers=numbers[lo:hi],
            positions=positions[lo:hi],
            cell=cells[k],
            pbc=pbc[k],
        )
        for k, (lo, hi) in enumerate(itertools.pairwise(bounds))
    ]


#: Most atom pairs (sum of squared atom counts) :class:`EdgeCache` compares
#: one by one in a batch of open structures.
OPEN_PAIRS = 2**20


class EdgeCache:
    """Neighbour lists of a batch of moving structures, reused within a skin.

    One :class:`~asegen.graph.SkinNeighborList` per structure: the search is
    redone for a structure only when one of its atoms moved more than half
    the skin or its cell changed (changing atom types do not count). On a
    CUDA graph the search runs in torch on the GPU. A batch of structures
    periodic along no axis (molecules, clusters) with at most
    :data:`OPEN_PAIRS` pairs to compare is searched afresh every call by
    :func:`~asegen.graph.open_neighbor_list`, in one go for the whole batch:
    cheaper than the per-structure lists (same pairs).
    """

    def __init__(
        self, cutoff: float, *, max_neighbors: int | None = None, skin: float = 1.0
    ) -> None:
        self.cutoff = cutoff
        self.max_neighbors = max_neighbors
        self.skin = skin
        self._lists: list[SkinNeighborList] = []

    def __call__(self, graph: AtomsGraph) -> AtomsGraph:
        """Return ``graph`` with the edges of its current positions."""
        if not bool(graph.pbc.any()) and open_pair_count(graph.batch) <= OPEN_PAIRS:
            i, j = open_neighbor_list(
                graph.positions.detach(),
                graph.batch,
                self.cutoff,
                max_neighbors=self.max_neighbors,
            )
            shifts = graph.positions.new_zeros((len(i), 3))
            return graph.replace(edge_index=torch.stack([i, j]), shifts=shifts)
        images = to_atoms(graph, geometry_only=True)
        device = graph.positions.device
        if len(self._lists) != len(images):
            backend = "torch" if device.type == "cuda" else "matscipy"
            self._lists = [
                SkinNeighborList(
                    self.cutoff,
                    self.skin,
                    max_neighbors=self.max_neighbors,
                    backend=backend,
                    device=device,
                )
                for _ in images
            ]
        pairs = [lists(atoms) for lists, atoms in zip(self._lists, images, strict=True)]
        return _edged(graph, images, pairs)


def with_edges(
    graph: AtomsGraph, cutoff: float, *, max_neighbors: int | None = None
) -> AtomsGraph:
    """Return ``graph`` with fresh neighbour lists of its current positions."""
    return EdgeCache(cutoff, max_neighbors=max_neighbors, skin=0.0)(graph)


def _edged(
    graph: AtomsGraph,
    images: list[Atoms],
    pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    | list[tuple[Tensor, Tensor, Tensor]],
) -> AtomsGraph:
    """Put the pairs of every structure into ``graph``, keeping everything else."""
    device, dtype = graph.positions.device, graph.positions.dtype
    offsets = np.cumsum([0, *(len(atoms) for atoms in images)])[:-1]
    parts = [[torch.as_tensor(a, device=device) for a in p] for p in pairs]
    i = torch.cat([p[0] + int(o) for p, o in zip(parts, offsets, strict=True)])
    j = torch.cat([p[1] + int(o) for p, o in zip(parts, offsets, strict=True)])
    shifts = torch.cat([p[2].reshape(-1, 3).to(dtype) for p in parts])
    return graph.replace(edge_index=torch.stack([i, j]).to(torch.int64), shifts=shifts)
