"""Atoms to tensors: neighbour lists, pair distances, batches, edge vectors, triplets.

No ``nn.Module`` lives here. The neighbour search runs in compiled code
(matscipy) or in torch on any device (:func:`torch_neighbor_list`); edge
vectors and angles are recomputed in torch so gradients reach positions and
cell.

>>> from ase.build import bulk
>>> from asegen.graph import atoms_to_graph, edge_vectors
>>> graph = atoms_to_graph([bulk("Si", cubic=True)], cutoff=3.0)
>>> edge_vectors(graph).shape
torch.Size([32, 3])

:func:`to_pyg` and :func:`from_pyg` (module :mod:`asegen.graph.pyg`, the
optional extra ``asegen[pyg]``) are loaded on first use, so importing this
package never imports torch-geometric.
"""

from typing import Any

from asegen.graph._batch import AtomsGraph, atoms_to_graph, batch_graphs
from asegen.graph._neighbours import neighbor_list
from asegen.graph._skin import SkinNeighborList
from asegen.graph._torch_neighbours import (
    open_neighbor_list,
    open_pair_count,
    torch_neighbor_list,
)
from asegen.graph.geometry import apply_strain, cell_volume, edge_vectors
from asegen.graph.pairs import Pairs, pair_distances, pair_list
from asegen.graph.triplets import Triplets, angle_cosines, triplets

__all__ = [
    "AtomsGraph",
    "Pairs",
    "SkinNeighborList",
    "Triplets",
    "angle_cosines",
    "apply_strain",
    "atoms_to_graph",
    "batch_graphs",
    "cell_volume",
    "edge_vectors",
    "neighbor_list",
    "open_neighbor_list",
    "open_pair_count",
    "pair_distances",
    "pair_list",
    "torch_neighbor_list",
    "triplets",
]


def __getattr__(name: str) -> Any:
    """Load the torch-geometric converters on first access."""
    if name in ("to_pyg", "from_pyg"):
        from asegen.graph import pyg

        return getattr(pyg, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
