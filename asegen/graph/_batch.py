"""``AtomsGraph``: a batch of structures as tensors, and its builders."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from ase import Atoms
from torch import Tensor

from asegen._structures import fixed_mask
from asegen.graph._neighbours import neighbor_list
from asegen.graph.units import voigt_to_full

__all__ = ["AtomsGraph", "atoms_to_graph", "batch_graphs"]


@dataclass(frozen=True, eq=False)
class AtomsGraph:
    """A batch of ``S`` structures with ``N`` atoms and ``E`` directed edges.

    Conventions are ASE's: cells are rows of lattice vectors, positions are
    Cartesian in Å, stress follows ASE's sign. Edge ``e`` goes from centre
    ``i = edge_index[0, e]`` to neighbour ``j = edge_index[1, e]`` and its
    vector is ``positions[j] - positions[i] + shifts[e] @ cell[batch[i]]``
    (see :func:`asegen.graph.edge_vectors`), recomputed in torch so that
    gradients reach positions and cell.

    ====================  ============  =====  ====================================
    field                 shape         dtype  meaning
    ====================  ============  =====  ====================================
    ``numbers``           (N,)          int64  atomic numbers
    ``positions``         (N, 3)        float  Cartesian positions, Å
    ``cell``              (S, 3, 3)     float  lattice vectors as rows, Å
    ``pbc``               (S, 3)        bool   periodic axes
    ``edge_index``        (2, E)        int64  centre and neighbour of each edge
    ``shifts``            (E, 3)        float  integer image shifts (whole numbers)
    ``batch``             (N,)          int64  structure index of each atom
    ``n_atoms``           (S,)          int64  atoms per structure
    ``fixed``             (N,)          bool   atoms fixed by ``FixAtoms``
    ``energy``            (S,)          float  label, eV (NaN where missing)
    ``forces``            (N, 3)        float  label, eV/Å (NaN where missing)
    ``stress``            (S, 3, 3)     float  label, eV/Å³, ASE sign (NaN ...)
    ``atom_labels``       name: (N, …)  any    further labels, one row per atom
    ``structure_labels``  name: (S, …)  any    further labels, one per structure
    ====================  ============  =====  ====================================

    ``energy``, ``forces`` and ``stress`` are the calculator results that
    :func:`atoms_to_graph` reads; they are ``None`` when no structure of the
    batch carries them. ``atom_labels`` and ``structure_labels`` hold whatever
    else a training task attaches (:meth:`with_labels`), each declared per atom
    or per structure so that batching needs to know nothing about them: a
    floating-point label missing on some structures of a batch is filled with
    NaN there. Atoms of one structure are contiguous and structures appear in
    order.
    """

    numbers: Tensor
    positions: Tensor
    cell: Tensor
    pbc: Tensor
    edge_index: Tensor
    shifts: Tensor
    batch: Tensor
    n_atoms: Tensor
    fixed: Tensor
    energy: Tensor | None = None
    forces: Tensor | None = None
    stress: Tensor | None = None
    atom_labels: Mapping[str, Tensor] = field(default_factory=dict)
    structure_labels: Mapping[str, Tensor] = field(default_factory=dict)

    @property
    def n_structures(self) -> int:
        """Number of structures ``S``."""
        return int(self.n_atoms.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of directed edges ``E``."""
        return int(self.edge_index.shape[1])

    def replace(self, **changes: Any) -> AtomsGraph:
        """Return a copy with some fields replaced (the graph is immutable)."""
        return dataclasses.replace(self, **changes)

    def with_labels(
        self,
        *,
        atom: Mapping[str, Tensor] | None = None,
        structure: Mapping[str, Tensor] | None = None,
    ) -> AtomsGraph:
        """Return a copy with labels added (or replaced) by name.

        Parameters
        ----------
        atom
            Labels with one row per atom, ``(N, ...)``.
        structure
            Labels with one row per structure, ``(S, ...)``.
        """
        for labels, rows, kind in (
            (atom or {}, self.numbers.shape[0], "atom"),
            (structure or {}, self.n_structures, "structure"),
        ):
            for name, value in labels.items():
                if value.ndim == 0 or value.shape[0] != rows:
                    raise ValueError(
                        f"{kind} label {name!r} has shape {tuple(value.shape)}; "
                        f"it needs {rows} rows, one per {kind}"
                    )
        return dataclasses.replace(
            self,
            atom_labels={**self.atom_labels, **(atom or {})},
            structure_labels={**self.structure_labels, **(structure or {})},
        )

    def to(
        self,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> AtomsGraph:
        """Move every tensor to ``device`` and floating-point ones to ``dtype``."""

        def move(value: Tensor) -> Tensor:
            if value.is_floating_point():
                return value.to(device=device, dtype=dtype)
            return value.to(device=device)

        moved: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, Mapping):
                moved[item.name] = {name: move(v) for name, v in value.items()}
            else:
                moved[item.name] = None if value is None else move(value)
        return AtomsGraph(**moved)


def atoms_to_graph(
    images: Atoms | Iterable[Atoms],
    cutoff: float | None = None,
    *,
    max_neighbors: int | None = None,
    cutoff_extra: float | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    pairs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]
    | Sequence[tuple[Tensor, Tensor, Tensor]]
    | None = None,
) -> AtomsGraph:
    """Build one :class:`AtomsGraph` holding every structure of ``images``.

    Neighbours come from :func:`asegen.graph.neighbor_list` (same meaning of
    ``cutoff``, ``max_neighbors`` and ``cutoff_extra``). Labels are read from
    the results already stored on each structure's calculator (for example a
    ``SinglePointCalculator``); no calculation is triggered.

    Parameters
    ----------
    images
        One structure or an iterable of them.
    cutoff, max_neighbors, cutoff_extra
        Passed to :func:`asegen.graph.neighbor_list`.
    dtype
        Floating-point dtype of the tensors (default: torch's default dtype).
    device
        Device of the tensors (default: CPU).
    pairs
        Precomputed ``(i, j, S)`` of each structure (for example from a
        :class:`~asegen.graph.SkinNeighborList`); the neighbour options are
        then not used. numpy arrays or int64 tensors; the graph of a
        structure whose pairs are tensors is built on their device (pairs
        from :func:`~asegen.graph.torch_neighbor_list` on a GPU stay there).

    Returns
    -------
    AtomsGraph
        The batch, atoms in the order of ``images``.
    """
    images = [images] if isinstance(images, Atoms) else list(images)
    if pairs is None:
        if cutoff is None:
            raise ValueError("atoms_to_graph needs a cutoff or precomputed pairs")
        pairs = [
            neighbor_list(
                atoms, cutoff, max_neighbors=max_neighbors, cutoff_extra=cutoff_extra
            )
            for atoms in images
        ]
    dtype = dtype or torch.get_default_dtype()
    parts = [
        _single(atoms, ijs, dtype) for atoms, ijs in zip(images, pairs, strict=True)
    ]
    return batch_graphs(parts).to(device=device)


def batch_graphs(graphs: Sequence[AtomsGraph]) -> AtomsGraph:
    """Concatenate graphs into one batch, renumbering atoms and structures.

    This is the collate function for a DataLoader whose items are
    single-structure graphs built in worker processes.
    """
    if not graphs:
        raise ValueError("a batch needs at least one structure")
    if len(graphs) == 1:
        return graphs[0]
    return _concatenate(graphs)


def _single(
    atoms: Atoms,
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray] | tuple[Tensor, Tensor, Tensor],
    dtype: torch.dtype,
) -> AtomsGraph:
    """Build the graph of one structure on the device of ``pairs``.

    Floating-point tensors are in ``dtype``; numpy pairs give a CPU graph.
    """
    i, j, shifts = (torch.as_tensor(a) for a in pairs)
    n = len(atoms)
    results = atoms.calc.results if atoms.calc is not None else {}
    energy = results.get("energy")
    forces = results.get("forces")
    stress = results.get("stress")

    def floats(values: object) -> Tensor:
        return torch.as_tensor(np.asarray(values), dtype=dtype)

    return AtomsGraph(
        numbers=torch.from_numpy(atoms.numbers.astype(np.int64)),
        positions=floats(atoms.positions),
        cell=floats(atoms.cell.array)[None],
        pbc=torch.from_numpy(np.array(atoms.pbc, dtype=bool))[None],
        edge_index=torch.stack([i, j]),
        shifts=shifts.to(dtype),
        batch=torch.zeros(n, dtype=torch.int64),
        n_atoms=torch.tensor([n], dtype=torch.int64),
        fixed=torch.from_numpy(fixed_mask(atoms)),
        energy=None if energy is None else floats([energy]),
        forces=None if forces is None else floats(forces),
        stress=None if stress is None else voigt_to_full(floats(stress))[None],
    ).to(device=i.device)


def _concatenate(graphs: Sequence[AtomsGraph]) -> AtomsGraph:
    """Join graphs along atoms, edges and structures."""
    device = graphs[0].numbers.device
    atom_counts = [len(g.numbers) for g in graphs]
    atoms_per_graph = torch.tensor(atom_counts, device=device)
    structures_per_graph = [g.n_structures for g in graphs]
    first_atom = torch.cumsum(atoms_per_graph, 0) - atoms_per_graph
    first_structure = np.cumsum(structures_per_graph) - structures_per_graph
    edges_per_graph = torch.tensor([g.n_edges for g in graphs], device=device)
    edge_index = torch.cat([g.edge_index for g in graphs], dim=1)
    edge_index = edge_index + torch.repeat_interleave(first_atom, edges_per_graph)
    batch = torch.cat(
        [g.batch + int(first) for g, first in zip(graphs, first_structure, strict=True)]
    )
    return AtomsGraph(
        numbers=torch.cat([g.numbers for g in graphs]),
        positions=torch.cat([g.positions for g in graphs]),
        cell=torch.cat([g.cell for g in graphs]),
        pbc=torch.cat([g.pbc for g in graphs]),
        edge_index=edge_index,
        shifts=torch.cat([g.shifts for g in graphs]),
        batch=batch,
        n_atoms=torch.cat([g.n_atoms for g in graphs]),
        fixed=torch.cat([g.fixed for g in graphs]),
        energy=_cat_labels([g.energy for g in graphs], structures_per_graph, ()),
        forces=_cat_labels([g.forces for g in graphs], atom_counts, (3,)),
        stress=_cat_labels([g.stress for g in graphs], structures_per_graph, (3, 3)),
        atom_labels=_cat_named([g.atom_labels for g in graphs], atom_counts),
        structure_labels=_cat_named(
            [g.structure_labels for g in graphs], structures_per_graph
        ),
    )


def _cat_named(
    labels: list[Mapping[str, Tensor]], lengths: list[int]
) -> dict[str, Tensor]:
    """Concatenate named labels; a name missing from some graphs is NaN there."""
    names = dict.fromkeys(name for part in labels for name in part)
    joined = {}
    for name in names:
        column = _cat_labels([part.get(name) for part in labels], lengths, None)
        assert column is not None  # the name occurs at least once
        joined[name] = column
    return joined


def _cat_labels(
    labels: list[Tensor | None],
    lengths: list[int],
    trailing: tuple[int, ...] | None,
) -> Tensor | None:
    """Concatenate labels, filling structures without one with NaN.

    ``trailing`` is the shape after the first axis (``None``: that of the
    first label present).
    """
    if all(label is None for label in labels):
        return None
    first = next(label for label in labels if label is not None)
    dtype = first.dtype
    if not dtype.is_floating_point and any(label is None for label in labels):
        raise ValueError(
            f"a {dtype} label is missing from some structures of the batch; "
            "integer labels cannot be filled with NaN"
        )
    trailing = tuple(first.shape[1:]) if trailing is None else trailing
    return torch.cat(
        [
            label
            if label is not None
            else torch.full(
                (length, *trailing), float("nan"), dtype=dtype, device=first.device
            )
            for label, length in zip(labels, lengths, strict=True)
        ]
    )
