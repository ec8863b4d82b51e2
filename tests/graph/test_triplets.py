import itertools

import numpy as np
import pytest
import torch
from ase.build import bulk, molecule

from asegen.graph import angle_cosines, atoms_to_graph, edge_vectors, triplets
from asegen.graph.triplets import line_graph, line_graph_compact


def small_systems():
    si = bulk("Si", "diamond", a=5.43)
    si.rattle(0.05, seed=0)
    cu = bulk("Cu", "fcc", a=3.6, cubic=True)
    cu.rattle(0.05, seed=1)
    return [si, cu, molecule("CH3CH2OH")]


def brute_force(edge_index, shifts, mask, join, keep_degenerate):
    src, dst = edge_index.tolist()
    allowed = [e for e in range(len(src)) if mask[e]]
    found = set()
    for a, b in itertools.product(allowed, allowed):
        if join == "source":
            meets, degenerate = src[a] == src[b], a == b
        else:
            meets = dst[a] == src[b]
            degenerate = dst[b] == src[a] and (shifts[b] == -shifts[a]).all()
        if meets and (keep_degenerate or not degenerate):
            found.add((a, b))
    return found


@pytest.mark.parametrize("join", ["source", "line"])
@pytest.mark.parametrize("keep_degenerate", [False, True])
@pytest.mark.parametrize("three_body_cutoff", [None, 2.6])
def test_triplets_match_brute_force(join, keep_degenerate, three_body_cutoff):
    graph = atoms_to_graph(small_systems(), cutoff=3.2, dtype=torch.float64)
    lengths = edge_vectors(graph).norm(dim=1)
    mask = (
        torch.ones_like(lengths, dtype=torch.bool)
        if three_body_cutoff is None
        else lengths <= three_body_cutoff
    )
    trip = triplets(
        graph.edge_index,
        len(graph.numbers),
        join=join,
        edge_mask=None if three_body_cutoff is None else mask,
        shifts=graph.shifts,
        keep_degenerate=keep_degenerate,
    )
    got = set(zip(trip.edge_a.tolist(), trip.edge_b.tolist(), strict=True))
    assert len(got) == len(trip)  # no duplicates
    reference = brute_force(
        graph.edge_index, graph.shifts.numpy(), mask.numpy(), join, keep_degenerate
    )
    assert got == reference
    assert torch.equal(trip.centre, graph.edge_index[0][trip.edge_b])


def test_counts_per_atom_in_silicon():
    # every Si atom has 4 first neighbours: 4*3 angle pairs, 4*4 with degenerate
    graph = atoms_to_graph(bulk("Si", "diamond", a=5.43), cutoff=2.5)
    n = len(graph.numbers)
    assert len(triplets(graph.edge_index, n)) == 2 * 12
    line = triplets(graph.edge_index, n, join="line", shifts=graph.shifts)
    assert len(line) == 2 * 12
    with_degenerate = triplets(
        graph.edge_index, n, join="line", shifts=graph.shifts, keep_degenerate=True
    )
    assert len(with_degenerate) == 2 * 16


def test_cosines_are_the_tetrahedral_angle_and_match_numpy():
    graph = atoms_to_graph(bulk("Si", "diamond", a=5.43), cutoff=2.5)
    vectors = edge_vectors(graph)
    for join in ("source", "line"):
        trip = triplets(graph.edge_index, 2, join=join, shifts=graph.shifts)
        cos = angle_cosines(vectors, trip)
        np.testing.assert_allclose(cos.numpy(), -1.0 / 3.0, atol=1e-6)

    atoms = small_systems()[2]
    graph = atoms_to_graph(atoms, cutoff=2.0, dtype=torch.float64)
    vectors = edge_vectors(graph)
    trip = triplets(graph.edge_index, len(atoms), join="line", shifts=graph.shifts)
    cos = angle_cosines(vectors, trip).numpy()
    src, dst = graph.edge_index.numpy()
    p = atoms.positions
    for t in range(len(trip)):
        a, b = int(trip.edge_a[t]), int(trip.edge_b[t])
        u, c, w = src[a], dst[a], dst[b]
        x, y = p[u] - p[c], p[w] - p[c]
        expected = x @ y / np.linalg.norm(x) / np.linalg.norm(y)
        assert cos[t] == pytest.approx(expected, abs=1e-12)


def test_batched_triplets_equal_per_structure():
    images = small_systems()
    batch = atoms_to_graph(images, cutoff=3.0)
    trip = triplets(batch.edge_index, len(batch.numbers))
    total = sum(
        len(triplets(g.edge_index, len(g.numbers)))
        for g in (atoms_to_graph(a, cutoff=3.0) for a in images)
    )
    assert len(trip) == total
    # no triplet crosses structures
    edge_structure = batch.batch[batch.edge_index[0]]
    assert torch.equal(edge_structure[trip.edge_a], edge_structure[trip.edge_b])


def test_cosine_gradient_is_finite_for_coincident_atoms():
    vectors = torch.zeros(2, 3, requires_grad=True)
    trip = triplets(torch.tensor([[0, 0], [1, 2]]), 3)
    cos = angle_cosines(vectors, trip)
    cos.sum().backward()
    assert torch.isfinite(vectors.grad).all()


def test_line_join_needs_shifts():
    with pytest.raises(ValueError, match="shifts"):
        triplets(torch.tensor([[0, 1], [1, 0]]), 2, join="line")


@pytest.mark.parametrize("keep_degenerate", [False, True])
def test_line_graph_compact_indexes_the_allowed_edges(keep_degenerate):
    graph = atoms_to_graph(small_systems(), cutoff=3.2, dtype=torch.float64)
    mask = edge_vectors(graph).norm(dim=1) <= 2.6
    args = (graph.edge_index, len(graph.numbers), mask, graph.shifts, keep_degenerate)
    edges, a, b = line_graph_compact(*args)
    assert torch.equal(edges, torch.nonzero(mask)[:, 0])
    assert 0 < len(edges) < len(mask)
    edge_a, edge_b = line_graph(*args)
    assert torch.equal(edges[a], edge_a)
    assert torch.equal(edges[b], edge_b)
