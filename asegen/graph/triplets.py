"""Bond-angle triplets (the line graph), built with vectorised torch ops.

A triplet is an ordered pair of edges ``(a, b)`` that meet at a shared centre
atom. Two ways of meeting are supported:

``join="source"``
    Both edges leave the centre: ``a = (c -> j)``, ``b = (c -> k)``; the angle
    is ``j-c-k`` (DimeNet, M3GNet).
``join="line"``
    ``a`` enters the centre and ``b`` leaves it: ``a = (u -> c)``,
    ``b = (c -> w)``; the angle is ``u-c-w``. These are the edges of ALIGNN's
    bond-angle line graph, which is defined on directed edges.

A pair whose two edges are the same bond (``a == b`` for ``"source"``; ``b``
the reverse of ``a`` for ``"line"``) has cosine 1 whatever the geometry;
such *degenerate* pairs are dropped unless ``keep_degenerate=True`` (ALIGNN
keeps them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "Triplets",
    "angle_cosines",
    "bond_angle_cosines",
    "line_graph",
    "line_graph_compact",
    "triplets",
]

Join = Literal["source", "line"]


@dataclass(frozen=True)
class Triplets:
    """Pairs of edges meeting at a centre atom; ``T`` triplets.

    Attributes
    ----------
    edge_a, edge_b
        ``(T,)`` int64 edge ids of the first and second edge.
    centre
        ``(T,)`` int64 index of the shared atom.
    join
        How the edges meet (``"source"`` or ``"line"``, see the module docs).
    """

    edge_a: Tensor
    edge_b: Tensor
    centre: Tensor
    join: Join

    def __len__(self) -> int:
        return int(self.edge_a.shape[0])


def triplets(
    edge_index: Tensor,
    n_atoms: int,
    *,
    join: Join = "source",
    edge_mask: Tensor | None = None,
    shifts: Tensor | None = None,
    keep_degenerate: bool = False,
) -> Triplets:
    """Return every pair of (allowed) edges that meet at a shared atom.

    Parameters
    ----------
    edge_index
        ``(2, E)`` centre and neighbour of each directed edge.
    n_atoms
        Total number of atoms ``N``.
    join
        ``"source"`` or ``"line"`` (see the module docs).
    edge_mask
        ``(E,)`` bool; only edges where it is true take part, e.g.
        ``lengths <= three_body_cutoff``.
    shifts
        ``(E, 3)`` image shifts; needed with ``join="line"`` to recognise the
        reverse of an edge through a periodic image.
    keep_degenerate
        Keep pairs of an edge with itself (``"source"``) or with its reverse
        (``"line"``).

    Returns
    -------
    Triplets
        Sorted by ``edge_a``, then by ``edge_b``.
    """
    if join == "line" and shifts is None and not keep_degenerate:
        raise ValueError("join='line' needs shifts to find reverse edges")
    edges, a, b = _edge_pairs(
        edge_index, n_atoms, join == "line", edge_mask, shifts, keep_degenerate
    )
    a, b = edges[a], edges[b]
    return Triplets(edge_a=a, edge_b=b, centre=edge_index[0][b], join=join)


def line_graph(
    edge_index: Tensor,
    n_atoms: int,
    edge_mask: Tensor,
    shifts: Tensor,
    keep_degenerate: bool,
) -> tuple[Tensor, Tensor]:
    """Return the ``(edge_a, edge_b)`` pairs of the ``"line"`` join (TorchScript-ready).

    The same pairs as :func:`triplets` with ``join="line"``, as two tensors.
    """
    edges, a, b = _edge_pairs(
        edge_index, n_atoms, True, edge_mask, shifts, keep_degenerate
    )
    return edges[a], edges[b]


def line_graph_compact(
    edge_index: Tensor,
    n_atoms: int,
    edge_mask: Tensor,
    shifts: Tensor,
    keep_degenerate: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """Return the allowed edges and the pairs of :func:`line_graph` among them.

    ``(edges, a, b)``: ``edges`` the ``(A,)`` ids of the edges where
    ``edge_mask`` holds, ``a`` and ``b`` ``(T,)`` positions in ``edges``, so
    that ``edges[a], edges[b]`` is what :func:`line_graph` returns. A network
    that passes messages on the line graph computes them for the ``A``
    allowed edges only (TorchScript-ready).
    """
    return _edge_pairs(edge_index, n_atoms, True, edge_mask, shifts, keep_degenerate)


def angle_cosines(vectors: Tensor, trip: Triplets, *, eps: float = 1e-12) -> Tensor:
    """Return the ``(T,)`` cosines of the angles of ``trip``.

    Parameters
    ----------
    vectors
        ``(E, 3)`` edge vectors (:func:`asegen.graph.edge_vectors`).
    trip
        The triplets.
    eps
        Lower bound on each vector norm, so coincident atoms give no NaN.

    Returns
    -------
    torch.Tensor
        Cosines in ``[-1, 1]``, measured at the centre atom between the
        directions towards the two other atoms.
    """
    va = vectors[trip.edge_a]
    if trip.join == "line":
        va = -va  # a points into the centre; turn it around
    return bond_angle_cosines(va, vectors[trip.edge_b], eps)


def bond_angle_cosines(
    u: Tensor,
    v: Tensor,
    eps: float = 1e-12,
    lengths: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """Return the cosines between rows of ``u`` and ``v`` (``(T, 3)`` each), clamped.

    ``lengths`` are the ``(T,)`` norms of ``u`` and ``v`` when the caller has
    them already (the edge lengths of a graph), which saves computing them
    and differentiating them again.
    """
    if lengths is None:
        lengths = (
            torch.linalg.vector_norm(u, dim=1),
            torch.linalg.vector_norm(v, dim=1),
        )
    norms = lengths[0].clamp_min(eps) * lengths[1].clamp_min(eps)
    return ((u * v).sum(dim=1) / norms).clamp(-1.0, 1.0)


def _edge_pairs(
    edge_index: Tensor,
    n_atoms: int,
    line: bool,
    edge_mask: Tensor | None,
    shifts: Tensor | None,
    keep_degenerate: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """Return the allowed edge ids and the pairs among them, as positions in those."""
    src, dst = edge_index[0], edge_index[1]
    edges = torch.arange(src.shape[0], device=src.device)
    if edge_mask is not None:
        edges = edges[edge_mask]
    key_b = src[edges]
    key_a = dst[edges] if line else key_b
    a, b = _pairs_with_equal_keys(key_a, key_b, n_atoms)
    if not keep_degenerate:
        if not line:
            keep = a != b
        else:
            assert shifts is not None
            ea, eb = edges[a], edges[b]
            same_bond = (dst[eb] == src[ea]) & (shifts[eb] == -shifts[ea]).all(dim=1)
            keep = ~same_bond
        a, b = a[keep], b[keep]
    return edges, a, b


def _pairs_with_equal_keys(
    key_a: Tensor, key_b: Tensor, n_keys: int
) -> tuple[Tensor, Tensor]:
    """All index pairs ``(p, q)`` with ``key_a[p] == key_b[q]``, vectorised.

    Each ``p`` is paired with every ``q`` of its key group (a CSR walk over
    ``key_b`` sorted by key); no Python loop over atoms or edges.
    """
    order_b = torch.argsort(key_b, stable=True)
    count_b = torch.bincount(key_b, minlength=n_keys)
    start_b = torch.cumsum(count_b, 0) - count_b
    per_a = count_b[key_a]  # partners of each p
    p = torch.repeat_interleave(
        torch.arange(key_a.shape[0], device=key_a.device), per_a
    )
    first = torch.cumsum(per_a, 0) - per_a
    rank = torch.arange(p.shape[0], device=key_a.device) - first[p]
    q = order_b[start_b[key_a[p]] + rank]
    return p, q
