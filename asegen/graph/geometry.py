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

__all__ = ["apply_strain", "cell_volume", "edge_vectors", "strain_positions_and_cell"]


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


def strain_positions_and_cell(
    positions: Tensor, cell: Tensor, strain: Tensor, batch: Tensor
) -> tuple[Tensor, Tensor]:
    """Deform positions and cells by a (symmetrised) strain per structure.

    The plain-tensor form of :func:`apply_strain`, which TorchScript compiles
    (the exported potential of :mod:`asegen.models.export` uses it).

    Parameters
    ----------
    positions
        ``(N, 3)`` positions, in Å.
    cell
        ``(S, 3, 3)`` cells, one per row vector.
    strain
        ``(S, 3, 3)`` strain; its symmetric part ``eps`` is applied as
        ``x -> x (I + eps)`` to positions and cell rows.
    batch
        ``(N,)`` structure index of every atom.

    Returns
    -------
    positions, cell : torch.Tensor
        The deformed ``(N, 3)`` positions and ``(S, 3, 3)`` cells.
    """
    sym = 0.5 * (strain + strain.transpose(-1, -2))  # (S, 3, 3)
    # index_select, not sym[batch]: its backward is a plain index_add
    per_atom = sym.index_select(0, batch)  # (N, 3, 3)
    positions = positions + torch.einsum("na,nab->nb", positions, per_atom)  # (N, 3)
    cell = cell + cell @ sym  # (S, 3, 3)
    return positions, cell


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
    positions, cell = strain_positions_and_cell(
        graph.positions, graph.cell, strain, graph.batch
    )
    return graph.replace(positions=positions, cell=cell)
