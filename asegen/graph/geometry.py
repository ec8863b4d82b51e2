"""Differentiable geometry on an :class:`~asegen.graph.AtomsGraph`.

Edge vectors are always recomputed from positions and cell, so autograd
reaches both; a strain applied with :func:`apply_strain` makes the derivative
of the energy with respect to that strain the virial, from which stress
follows as ``(1/V) dE/dstrain`` (ASE's sign).
"""

from __future__ import annotations

import torch
from torch import Tensor

from asegen.graph._batch import AtomsGraph

__all__ = ["apply_strain", "cell_volume", "edge_vectors"]


def edge_vectors(graph: AtomsGraph) -> Tensor:
    """Return the ``(E, 3)`` edge vectors ``pos[j] - pos[i] + shifts @ cell``, in Å."""
    i, j = graph.edge_index
    if graph.n_structures == 1:
        offsets = graph.shifts @ graph.cell[0]  # (E, 3)
    else:
        cells = graph.cell.index_select(0, graph.batch.index_select(0, i))  # (E, 3, 3)
        offsets = torch.einsum("ea,eab->eb", graph.shifts, cells)
    positions = graph.positions
    return positions.index_select(0, j) - positions.index_select(0, i) + offsets


def cell_volume(cell: Tensor) -> Tensor:
    """Return ``|det(cell)|`` for ``(S, 3, 3)`` cells, in Å³ (zero for a zero cell)."""
    return torch.linalg.det(cell).abs()


def apply_strain(graph: AtomsGraph, strain: Tensor) -> AtomsGraph:
    """Deform positions and cell by a (symmetrised) strain per structure.

    Parameters
    ----------
    graph
        The batch to deform.
    strain
        ``(S, 3, 3)`` strain; its symmetric part ``eps`` is applied as
        ``x -> x (I + eps)`` to positions and cell rows.

    Returns
    -------
    AtomsGraph
        The deformed batch. With ``strain`` a zero tensor that requires grad,
        ``dE/dstrain`` of an energy computed on the result is the virial.
    """
    sym = 0.5 * (strain + strain.transpose(-1, -2))  # (S, 3, 3)
    positions = graph.positions + torch.einsum(
        "na,nab->nb", graph.positions, sym[graph.batch]
    )
    cell = graph.cell + graph.cell @ sym
    return graph.replace(positions=positions, cell=cell)
