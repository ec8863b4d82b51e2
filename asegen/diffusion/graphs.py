"""Graphs of structures that diffusion moves: built without edges, edged on demand."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms

from asegen.graph import AtomsGraph, SkinNeighborList, atoms_to_graph

__all__ = ["EdgeCache", "state_graph", "to_atoms", "with_edges"]

_NO_PAIRS = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros((0, 3)))


def state_graph(images: Sequence[Atoms], dtype: torch.dtype) -> AtomsGraph:
    """Return the structures as one graph without edges (labels as stored)."""
    return atoms_to_graph(images, pairs=[_NO_PAIRS] * len(images), dtype=dtype)


def to_atoms(graph: AtomsGraph) -> list[Atoms]:
    """Return each structure's numbers, positions, cell and pbc as ``Atoms``."""
    numbers = graph.numbers.cpu().numpy()
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


class EdgeCache:
    """Neighbour lists of a batch of moving structures, reused within a skin.

    One :class:`~asegen.graph.SkinNeighborList` per structure: the search is
    redone for a structure only when one of its atoms moved more than half
    the skin (or its cell changed).
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
        images = to_atoms(graph)
        if len(self._lists) != len(images):
            self._lists = [
                SkinNeighborList(
                    self.cutoff, self.skin, max_neighbors=self.max_neighbors
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
    pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> AtomsGraph:
    """Put the pairs of every structure into ``graph``, keeping everything else."""
    offsets = np.cumsum([0, *(len(atoms) for atoms in images)])[:-1]
    i = np.concatenate(
        [np.asarray(p[0]) + o for p, o in zip(pairs, offsets, strict=True)]
    )
    j = np.concatenate(
        [np.asarray(p[1]) + o for p, o in zip(pairs, offsets, strict=True)]
    )
    shifts = np.concatenate(
        [np.asarray(p[2], dtype=float).reshape(-1, 3) for p in pairs]
    )
    device, dtype = graph.positions.device, graph.positions.dtype
    edge_index = torch.as_tensor(np.stack([i, j]).astype(np.int64), device=device)
    return graph.replace(
        edge_index=edge_index,
        shifts=torch.as_tensor(shifts, dtype=dtype, device=device),
    )
