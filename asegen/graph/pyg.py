"""torch-geometric interoperability: the optional extra ``asegen[pyg]``.

:func:`to_pyg` and :func:`from_pyg` convert between
:class:`~asegen.graph.AtomsGraph` and torch-geometric's ``Data``/``Batch``
without loss; :class:`PygDataset` serves any structure file asegen reads
(HDF5 lazily) as a torch-geometric ``Dataset`` of graphs from asegen's
periodic neighbour list; and :class:`PeriodicInteractionGraph` hands those
edges to PyG's ``SchNet``.

This module imports without torch-geometric installed (``import asegen``
never imports it); using it then raises :class:`~asegen.errors.ConfigError`
naming ``pip install "asegen[pyg]"``.

Edges keep asegen's convention: edge ``e`` runs from ``i = edge_index[0, e]``
to ``j = edge_index[1, e]`` with vector
``pos[j] - pos[i] + shifts[e] @ cell[batch[i]]`` (:func:`edge_vectors`).
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor

from asegen.data import read_structures
from asegen.errors import ConfigError
from asegen.graph._batch import AtomsGraph, atoms_to_graph

__all__ = [
    "AtomsData",
    "PeriodicInteractionGraph",
    "PygDataset",
    "edge_vectors",
    "from_pyg",
    "to_pyg",
]

try:
    from torch_geometric.data import Batch, Data, Dataset
except ImportError as error:  # the extra is missing: the module imports, use raises
    _MISSING: str | None = str(error)

    class _Missing:
        """Stands in for torch-geometric's classes; instantiating it raises."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            _require()

    Batch = Data = Dataset = _Missing  # type: ignore[assignment,misc]
else:
    _MISSING = None

_ATOM_FIELDS = {"z": "numbers", "pos": "positions", "fixed": "fixed"}
_STRUCTURE_FIELDS = {"cell": "cell", "pbc": "pbc", "n_atoms": "n_atoms"}
_LABELS = {"y": "energy", "forces": "forces", "stress": "stress"}


def _require() -> None:
    """Raise a one-line ConfigError if torch-geometric cannot be imported."""
    if _MISSING is not None:
        raise ConfigError(
            f'this needs torch-geometric: pip install "asegen[pyg]" ({_MISSING})'
        )


class AtomsData(Data):
    """A torch-geometric ``Data`` holding one structure of an ``AtomsGraph``.

    ============================  ==========  =================================
    key                           shape       :class:`~asegen.graph.AtomsGraph` field
    ============================  ==========  =================================
    ``z``                         (N,)        ``numbers``
    ``pos``                       (N, 3)      ``positions``, Å
    ``cell``                      (1, 3, 3)   ``cell``, Å, rows
    ``pbc``                       (1, 3)      ``pbc``
    ``edge_index``                (2, E)      ``edge_index`` (centre, neighbour)
    ``shifts``                    (E, 3)      ``shifts``
    ``n_atoms``                   (1,)        ``n_atoms``
    ``fixed``                     (N,)        ``fixed``
    ``y``                         (1,)        ``energy``, eV
    ``forces``                    (N, 3)      ``forces``, eV/Å
    ``stress``                    (1, 3, 3)   ``stress``, eV/Å³, ASE sign
    ``atom_labels``               dict        ``atom_labels``
    ``structure_labels``          dict        ``structure_labels``
    ============================  ==========  =================================

    torch-geometric's ``Batch`` concatenates every key along its first axis
    (so a batch has ``cell`` of shape (S, 3, 3) and ``y`` of shape (S,)) and
    adds the atom offset to ``edge_index`` only: unlike a plain ``Data``, a
    named label whose name contains ``index`` or ``batch`` is not shifted.
    torch-geometric batches only data with the same keys, so ``y``,
    ``forces`` and ``stress`` are always present, NaN where a structure has
    no such label (as in :class:`~asegen.graph.AtomsGraph`; mask losses with
    ``isfinite``).
    """

    def __inc__(self, key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        """Increment ``edge_index`` by the atom count when batching; nothing else."""
        if key == "edge_index":
            return super().__inc__(key, value, *args, **kwargs)
        return 0


def to_pyg(graph: AtomsGraph) -> AtomsData:
    """Convert an :class:`~asegen.graph.AtomsGraph` to torch-geometric.

    Parameters
    ----------
    graph
        Any graph.

    Returns
    -------
    AtomsData
        An :class:`AtomsData` for a graph of one structure, otherwise a
        torch-geometric ``Batch`` of them (``batch``, ``ptr`` and
        ``num_graphs`` as torch-geometric defines them). Keys are listed in
        :class:`AtomsData`; a label that ``graph`` lacks is NaN. :func:`from_pyg`
        gives ``graph`` back exactly when the edges of each structure are
        contiguous and in structure order, as in every graph asegen builds.
    """
    _require()
    parts = _split(graph)
    if len(parts) == 1:
        return parts[0]
    return Batch.from_data_list(parts)


def from_pyg(data: Data) -> AtomsGraph:
    """Convert torch-geometric ``Data`` or ``Batch`` to an ``AtomsGraph``.

    Reads the keys of :class:`AtomsData`. Only ``z``, ``pos`` and
    ``edge_index`` are required, so a molecule from another source also
    converts: without ``cell``, ``pbc`` and ``shifts`` it is a zero cell,
    periodic along no axis, with zero shifts; ``y`` becomes the energy and
    must hold one value per structure. A label that is NaN throughout
    becomes ``None``, as :func:`~asegen.graph.batch_graphs` makes a label that
    no structure carries.

    Parameters
    ----------
    data
        A ``Data`` (one structure) or a ``Batch``.

    Returns
    -------
    AtomsGraph
        The graph, sharing the tensors of ``data``.

    Raises
    ------
    ConfigError
        When a required key is missing or ``y`` has the wrong shape.
    """
    _require()
    for key in ("z", "pos", "edge_index"):
        if key not in data:
            raise ConfigError(
                f"the torch-geometric data has no {key!r}; from_pyg needs "
                "z, pos and edge_index (the keys to_pyg writes)"
            )
    numbers, positions = data.z, data.pos
    n = numbers.shape[0]
    batched = isinstance(data, Batch)
    s = data.num_graphs if batched else 1
    batch = data.batch if batched else torch.zeros(n, dtype=torch.int64)
    dtype, device = positions.dtype, positions.device
    fields: dict[str, Any] = {
        "numbers": numbers,
        "positions": positions,
        "edge_index": data.edge_index,
        "batch": batch.to(device),
        "cell": _get(data, "cell", lambda: torch.zeros(s, 3, 3, dtype=dtype)),
        "pbc": _get(data, "pbc", lambda: torch.zeros(s, 3, dtype=torch.bool)),
        "shifts": _get(
            data,
            "shifts",
            lambda: torch.zeros(data.edge_index.shape[1], 3, dtype=dtype),
        ),
        "n_atoms": _get(data, "n_atoms", lambda: torch.bincount(batch, minlength=s)),
        "fixed": _get(data, "fixed", lambda: torch.zeros(n, dtype=torch.bool)),
    }
    fields = {name: value.to(device) for name, value in fields.items()}
    for key, name in _LABELS.items():
        label = getattr(data, key, None)
        fields[name] = None if label is None or label.isnan().all() else label
    energy = fields["energy"]
    if energy is not None and tuple(energy.shape) != (s,):
        raise ConfigError(
            f"the torch-geometric data has y of shape {tuple(energy.shape)}; "
            f"from_pyg reads y as the energy of each structure, shape ({s},)"
        )
    for key in ("atom_labels", "structure_labels"):
        fields[key] = dict(data[key]) if key in data else {}
    return AtomsGraph(**fields)


def edge_vectors(data: Data, pos: Tensor | None = None) -> Tensor:
    """Periodic edge vectors ``pos[j] - pos[i] + shifts @ cell`` of a ``Data``.

    Parameters
    ----------
    data
        :class:`AtomsData` or a ``Batch`` of them (``shifts`` and ``cell``
        are required for a periodic structure; without ``shifts`` the plain
        ``pos[j] - pos[i]`` is returned).
    pos
        Positions to use instead of ``data.pos``, for example a copy that
        requires grad.

    Returns
    -------
    Tensor
        (E, 3), differentiable in ``pos`` and ``data.cell``.
    """
    pos = data.pos if pos is None else pos
    i, j = data.edge_index
    vectors = pos[j] - pos[i]
    if "shifts" not in data:
        return vectors
    batch = data.batch if isinstance(data, Batch) else torch.zeros_like(data.z)
    cell = data.cell[batch[i]]
    return vectors + torch.einsum("ek,ekl->el", data.shifts.to(pos.dtype), cell)


class PeriodicInteractionGraph(torch.nn.Module):
    """``interaction_graph`` for PyG's ``SchNet``: the edges of the batch in hand.

    PyG's SchNet asks its ``interaction_graph`` for ``(edge_index,
    edge_weight)`` given only ``pos`` and ``batch``, and by default searches
    a radius graph without periodic images (with pyg-lib). This one returns
    the edges of :attr:`data` — set it to the batch before each call — and
    their periodic lengths from the ``pos`` that SchNet passes, so forces by
    autograd in ``pos`` are right. Build the data with the model's cutoff:
    SchNet's cosine cutoff does not vanish beyond it.

    >>> edges = PeriodicInteractionGraph()  # doctest: +SKIP
    >>> model = SchNet(cutoff=5.0, interaction_graph=edges)  # doctest: +SKIP
    >>> edges.data = batch  # doctest: +SKIP
    >>> energy = model(batch.z, batch.pos, batch.batch).view(-1)  # doctest: +SKIP
    """

    def __init__(self) -> None:
        super().__init__()
        self.data: Data | None = None

    def forward(self, pos: Tensor, batch: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``data.edge_index`` and the lengths of its edges at ``pos``."""
        if self.data is None or self.data.pos.shape != pos.shape:
            raise ConfigError(
                "PeriodicInteractionGraph.data must be the batch being "
                "evaluated: set edges.data = batch before calling the model"
            )
        return self.data.edge_index, edge_vectors(self.data, pos).norm(dim=1)


class PygDataset(Dataset):
    """Structures from a file as a torch-geometric ``Dataset`` of graphs.

    Item ``k`` is the :class:`AtomsData` of structure ``k``, its edges from
    :func:`asegen.graph.neighbor_list` (periodic images included) and its
    energy, forces and stress from the stored labels (NaN where missing).
    Batch with ``torch_geometric.loader.DataLoader``.

    Parameters
    ----------
    path
        An asegen HDF5 file (read lazily, safe in DataLoader workers) or any
        source :func:`asegen.data.read_structures` reads.
    cutoff, max_neighbors, cutoff_extra
        Passed to :func:`asegen.graph.neighbor_list`.
    dtype
        Floating-point dtype (default: torch's default dtype).
    transform
        torch-geometric transform applied to each item on access.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        cutoff: float,
        *,
        max_neighbors: int | None = None,
        cutoff_extra: float | None = None,
        dtype: torch.dtype | None = None,
        transform: Any = None,
    ) -> None:
        super().__init__(transform=transform)
        self.structures = read_structures(path)
        self.options: dict[str, Any] = {
            "cutoff": cutoff,
            "max_neighbors": max_neighbors,
            "cutoff_extra": cutoff_extra,
            "dtype": dtype,
        }

    def len(self) -> int:
        """Return the number of structures."""
        return len(self.structures)

    def get(self, idx: int) -> AtomsData:
        """Return the graph of structure ``idx``, before ``transform``."""
        return to_pyg(atoms_to_graph(self.structures[idx], **self.options))


def _split(graph: AtomsGraph) -> list[AtomsData]:
    """Cut ``graph`` into one :class:`AtomsData` per structure."""
    like = {"dtype": graph.positions.dtype, "device": graph.positions.device}
    atoms, ones = graph.n_atoms.tolist(), [1] * graph.n_structures
    edge_structure = graph.batch[graph.edge_index[0]]
    order = torch.argsort(edge_structure, stable=True)
    edges = torch.bincount(edge_structure, minlength=graph.n_structures).tolist()
    first_atom = torch.cumsum(graph.n_atoms, 0) - graph.n_atoms
    local = graph.edge_index - first_atom[edge_structure]
    columns: dict[str, tuple[Tensor, ...]] = {
        "edge_index": local[:, order].split(edges, dim=1),
        "shifts": graph.shifts[order].split(edges),
        **{
            key: getattr(graph, name).split(atoms) for key, name in _ATOM_FIELDS.items()
        },
        **{
            key: getattr(graph, name).split(ones)
            for key, name in _STRUCTURE_FIELDS.items()
        },
    }
    shapes = {
        "y": (len(ones),),
        "forces": (len(graph.numbers), 3),
        "stress": (len(ones), 3, 3),
    }
    for key, name in _LABELS.items():
        label = getattr(graph, name)
        if label is None:
            label = torch.full(shapes[key], float("nan"), **like)
        columns[key] = label.split(atoms if key == "forces" else ones)
    parts = [
        AtomsData(**{key: column[s] for key, column in columns.items()})
        for s in range(graph.n_structures)
    ]
    for key, labels, rows in (
        ("atom_labels", graph.atom_labels, atoms),
        ("structure_labels", graph.structure_labels, ones),
    ):
        if labels:
            split = {name: value.split(rows) for name, value in labels.items()}
            for s, data in enumerate(parts):
                data[key] = {name: value[s] for name, value in split.items()}
    return parts


def _get(data: Data, key: str, default: Any) -> Tensor:
    """Return ``data[key]``, or ``default()`` when ``data`` has no such key."""
    value = getattr(data, key, None)
    return default() if value is None else value
