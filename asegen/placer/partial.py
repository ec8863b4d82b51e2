"""Partial structures as graphs: the placed atoms plus the origin and focus tokens.

One function, :func:`partial_graph`, builds the graph the network sees, both
for a training step and during generation, so the two cannot drift apart.
Its nodes are ``[focus token, origin token, placed atoms...]``:

- SchNet edges between placed atoms closer than the model cutoff (periodic
  images included; the caller passes them);
- the origin token joined to every placed atom, whatever the distance, by the
  minimum-image displacement from the origin;
- the focus token on the focus atom, joined to it (length 0), to the origin
  and to the focus atom's SchNet neighbours, with the focus atom's
  displacements. Before the first atom (no focus) both tokens sit on the
  origin, joined to each other.

The prediction set (atom label ``"member"``) is both tokens, the focus atom
and every placed atom within ``prediction_cutoff`` of it (minimum image).
Along periodic axes every distance the placer predicts or samples is a
minimum-image distance (:func:`minimum_image`), in training and generation
alike.
"""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms

from asegen.graph import AtomsGraph, neighbor_list
from asegen.models.gschnet import FOCUS, MEMBER_LABEL, ORIGIN

__all__ = ["minimum_image", "model_pairs", "partial_graph"]


def minimum_image(
    vectors: np.ndarray, cell: np.ndarray, pbc: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the minimum images of ``vectors`` ``(..., 3)`` and their shifts.

    A vector's image is ``vector + shift @ cell`` with integer ``shift``
    rounding its fractional coordinates to ``[-1/2, 1/2]`` along periodic
    axes (exact for cells whose angles are not far from 90°).
    """
    shifts = np.zeros(vectors.shape, dtype=np.int64)
    if np.any(pbc):
        frac = vectors @ np.linalg.inv(cell)
        shifts[..., pbc] = -np.round(frac[..., pbc]).astype(np.int64)
        vectors = vectors + shifts @ cell
    return vectors, shifts


def model_pairs(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(i, j, shifts)`` of the atoms closer than ``cutoff``.

    Periodic images count along periodic axes; without any, a dense distance
    matrix (the structures are small) replaces the neighbour search.
    """
    if np.any(pbc):
        atoms = Atoms(positions=positions, cell=cell, pbc=pbc)
        i, j, s = neighbor_list(atoms, cutoff)
        return np.asarray(i), np.asarray(j), np.asarray(s).astype(np.int64)
    d = np.linalg.norm(positions[None] - positions[:, None], axis=2)
    i, j = np.nonzero(d < cutoff)
    keep = i != j
    i, j = i[keep], j[keep]
    return i, j, np.zeros((len(i), 3), dtype=np.int64)


def partial_graph(
    positions: np.ndarray,
    numbers: np.ndarray,
    cell: np.ndarray,
    pbc: np.ndarray,
    origin: np.ndarray,
    focus: int,
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
    prediction_cutoff: float,
) -> tuple[AtomsGraph, np.ndarray]:
    """Return the graph of a partial structure and its members' atom indices.

    Parameters
    ----------
    positions, numbers
        The ``p`` placed atoms.
    cell, pbc
        The cell (rows, Å) and its periodic axes.
    origin
        Where the origin token sits, Å.
    focus
        Index of the focus among the placed atoms; ``-1`` before the first.
    pairs
        ``(i, j, shifts)`` of placed atoms closer than the model cutoff.
    prediction_cutoff
        Radius of the prediction set around the focus, Å.

    Returns
    -------
    graph
        One structure of ``p + 2`` nodes (tokens first), float64, with the
        atom label ``"member"``.
    members
        The placed atoms (indices into ``positions``) in the prediction set,
        in the order of the graph's member nodes after the two tokens.
    """
    p = len(numbers)
    i, j, s = pairs
    _, origin_shift = minimum_image(positions - origin, cell, pbc)
    atoms = np.arange(p) + 2
    blocks = [
        (i + 2, j + 2, s),
        (np.ones(p, np.int64), atoms, origin_shift),
        (atoms, np.ones(p, np.int64), -origin_shift),
    ]
    if focus < 0:
        members = np.zeros(0, dtype=np.int64)
        token_position = origin
        blocks.append((np.array([0, 1]), np.array([1, 0]), np.zeros((2, 3), np.int64)))
    else:
        token_position = positions[focus]
        near, _ = minimum_image(positions - positions[focus], cell, pbc)
        distance = np.linalg.norm(near, axis=1)
        members = np.flatnonzero(distance <= prediction_cutoff)
        around = i == focus
        k = np.count_nonzero(around)
        to = np.concatenate([[focus + 2, 1], j[around] + 2])
        shift = np.concatenate(
            [[np.zeros(3, np.int64), origin_shift[focus]], s[around]]
        )
        blocks += [(np.zeros(k + 2, np.int64), to, shift)]
        blocks += [(to, np.zeros(k + 2, np.int64), -shift)]
    centre = np.concatenate([b[0] for b in blocks])
    neighbour = np.concatenate([b[1] for b in blocks])
    shifts = np.concatenate([np.asarray(b[2]).reshape(-1, 3) for b in blocks])
    node_positions = np.concatenate([[token_position, origin], positions])
    member = np.zeros(p + 2)
    member[:2] = 1.0
    member[members + 2] = 1.0
    graph = AtomsGraph(
        numbers=torch.from_numpy(
            np.concatenate([[FOCUS, ORIGIN], numbers]).astype(np.int64)
        ),
        positions=torch.from_numpy(node_positions.astype(np.float64)),
        cell=torch.from_numpy(np.asarray(cell, dtype=np.float64))[None],
        pbc=torch.from_numpy(np.asarray(pbc, dtype=bool))[None],
        edge_index=torch.from_numpy(np.stack([centre, neighbour]).astype(np.int64)),
        shifts=torch.from_numpy(shifts.astype(np.float64)),
        batch=torch.zeros(p + 2, dtype=torch.int64),
        n_atoms=torch.tensor([p + 2]),
        fixed=torch.zeros(p + 2, dtype=torch.bool),
        atom_labels={MEMBER_LABEL: torch.from_numpy(member)},
    )
    return graph, members
