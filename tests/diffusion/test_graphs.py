"""Edges of moving structures: the skin cache gives what a fresh search gives."""

import numpy as np
import torch
from ase.build import bulk, molecule

from asegen.diffusion.graphs import EdgeCache, state_graph, to_atoms, with_edges
from asegen.graph import atoms_to_graph


def edge_set(graph):
    i, j = graph.edge_index.tolist()
    shifts = graph.shifts.round().to(torch.int64).tolist()
    return sorted(zip(i, j, map(tuple, shifts), strict=True))


def test_cached_edges_follow_moving_atoms_like_fresh_searches():
    images = [bulk("Cu", cubic=True) * (2, 1, 1), molecule("H2O"), bulk("Si")]
    graph = state_graph(images, torch.float64)
    cache = EdgeCache(3.0, skin=1.0)
    generator = torch.Generator().manual_seed(0)
    for _ in range(6):
        moved = graph.positions + 0.15 * torch.randn(
            graph.positions.shape, generator=generator, dtype=torch.float64
        )
        numbers = graph.numbers.clone()
        numbers[0] = 0  # a type change must not matter
        graph = graph.replace(positions=moved, numbers=numbers)
        cached = cache(graph)
        fresh = atoms_to_graph(to_atoms(graph), cutoff=3.0, dtype=torch.float64)
        assert edge_set(cached) == edge_set(fresh)
        assert edge_set(with_edges(graph, 3.0)) == edge_set(fresh)
    searches = [lists.searches for lists in cache._lists]
    assert min(searches) < 6  # reused within the skin at least once


def test_geometry_only_atoms_keep_positions_and_cells():
    graph = state_graph([bulk("NaCl", "rocksalt", a=5.6)], torch.float64)
    atoms = to_atoms(graph, geometry_only=True)[0]
    assert atoms.numbers.tolist() == [0, 0]
    np.testing.assert_array_equal(atoms.positions, graph.positions.numpy())
    np.testing.assert_array_equal(atoms.cell.array, graph.cell[0].numpy())


def test_open_structures_get_the_pairs_of_a_full_search():
    cluster = molecule("C6H6")
    cluster.positions += np.random.default_rng(1).normal(
        0, 0.2, cluster.positions.shape
    )
    graph = state_graph([cluster, molecule("H2O"), molecule("CH4")], torch.float64)
    for cap in (None, 4):
        fresh = atoms_to_graph(
            to_atoms(graph), cutoff=2.5, max_neighbors=cap, dtype=torch.float64
        )
        edged = with_edges(graph, 2.5, max_neighbors=cap)
        assert edge_set(edged) == edge_set(fresh)
        assert edged.shifts.dtype == torch.float64
