"""Training trajectories and the partial structures built from them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import fcc100, molecule
from ase.constraints import FixAtoms

from asegen.models.gschnet import FOCUS, MEMBER_LABEL, ORIGIN, GSchNetConfig
from asegen.placer.partial import minimum_image, partial_graph
from asegen.placer.task import smoothed_labels
from asegen.placer.trajectory import prepare, sample_trajectory

CONFIG = GSchNetConfig(model_cutoff=4.0)


def slab_with_adsorbate() -> Atoms:
    """A periodic Cu(100) slab (fixed) with an OH group on top."""
    slab = fcc100("Cu", size=(2, 2, 2), vacuum=5.0)
    slab.set_constraint(FixAtoms(indices=range(len(slab))))
    corner = slab.positions[np.argmax(slab.positions[:, 2])]
    slab += Atoms("OH", positions=corner + np.array([[0, 0, 1.9], [0, 0, 2.87]]))
    return slab


@pytest.mark.parametrize("name", ["CH3CH2OH", "C6H6", "CH3COOH", "H2O"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_atom_is_placed_once_and_finished_once(name: str, seed: int) -> None:
    prepared = prepare(molecule(name), CONFIG)
    assert not isinstance(prepared, str)
    order, steps = sample_trajectory(prepared, np.random.default_rng(seed))
    n = len(prepared.numbers)
    assert sorted(order.tolist()) == list(range(n))
    assert len(steps) == 2 * n == prepared.n_steps
    placed_new = steps[steps[:, 2] >= 0, 2]
    assert sorted(placed_new.tolist()) == list(range(n))  # each atom placed once
    stops = steps[steps[:, 2] < 0, 1]
    assert sorted(stops.tolist()) == list(range(n))  # each atom finished once
    assert tuple(steps[0]) == (0, -1, 0)  # the atom nearest the origin first
    assert np.argmin(prepared.origin_distances) == 0
    near = prepared.distances <= CONFIG.placement_cutoff
    for n_placed, focus, new in steps[1:]:
        assert focus in order[:n_placed]  # the focus is a placed atom
        if new >= 0:  # placed next to its focus, in the order of the trajectory
            assert near[focus, new]
            assert order[n_placed] == new
    finished = set()
    for _, focus, new in steps[1:]:  # a finished atom is never the focus again
        assert focus not in finished
        if new < 0:
            finished.add(focus)


def test_template_atoms_come_first_and_are_never_placed() -> None:
    atoms = slab_with_adsorbate()  # Cu-O 1.9 Å: beyond the molecular default
    prepared = prepare(atoms, GSchNetConfig(model_cutoff=4.0, placement_cutoff=2.2))
    assert not isinstance(prepared, str)
    assert prepared.n_template == 8
    assert prepared.numbers[:8].tolist() == [29] * 8
    order, steps = sample_trajectory(prepared, np.random.default_rng(3))
    assert order[:8].tolist() == list(range(8))
    assert len(steps) == 2 * 2 + 8 == prepared.n_steps
    assert sorted(steps[steps[:, 2] >= 0, 2].tolist()) == [8, 9]
    assert np.allclose(prepared.origin, atoms[:8].get_center_of_mass())


def test_disconnected_structures_are_named_not_built() -> None:
    atoms = molecule("H2O") + molecule("H2O")
    atoms.positions[3:] += [8.0, 0, 0]
    reason = prepare(atoms, CONFIG)
    assert isinstance(reason, str)
    assert "not connected" in reason


def test_minimum_image_takes_the_nearest_periodic_image() -> None:
    cell = np.diag([4.0, 4.0, 10.0])
    pbc = np.array([True, True, False])
    vectors, shifts = minimum_image(np.array([[3.5, -3.9, 6.0]]), cell, pbc)
    assert np.allclose(vectors, [[-0.5, 0.1, 6.0]])
    assert shifts.tolist() == [[-1, 1, 0]]


def test_partial_graph_joins_tokens_and_flags_the_prediction_set() -> None:
    atoms = molecule("CH3CH2OH")
    positions = atoms.positions
    numbers = atoms.numbers
    origin = atoms.get_center_of_mass()
    d = np.linalg.norm(positions[:, None] - positions[None], axis=2)
    i, j = np.nonzero((d < 4.0) & (d > 0))
    pairs = (i, j, np.zeros((len(i), 3), dtype=np.int64))
    focus = 2
    graph, members = partial_graph(
        positions,
        numbers,
        np.zeros((3, 3)),
        np.zeros(3, bool),
        origin,
        focus,
        pairs,
        2.0,
    )
    assert graph.numbers[:2].tolist() == [FOCUS, ORIGIN]
    assert torch.allclose(graph.positions[0], torch.from_numpy(positions[focus]))
    assert sorted(members.tolist()) == np.flatnonzero(d[focus] <= 2.0).tolist()
    member = graph.atom_labels[MEMBER_LABEL]
    assert member[:2].tolist() == [1.0, 1.0]
    assert member[2:].nonzero().squeeze(1).tolist() == sorted(members.tolist())
    centre, neighbour = graph.edge_index
    lengths = torch.linalg.vector_norm(
        graph.positions[neighbour] - graph.positions[centre], dim=1
    )
    to_origin = lengths[(centre == 1) & (neighbour >= 2)]  # every atom, any distance
    assert torch.allclose(
        to_origin, torch.from_numpy(np.linalg.norm(positions - origin, axis=1))
    )
    token_edges = neighbour[centre == 0].tolist()
    assert sorted(token_edges) == sorted([focus + 2, 1, *(j[i == focus] + 2)])
    assert lengths[(centre == 0) & (neighbour == focus + 2)].item() == 0.0
    # edges come in both directions
    assert graph.n_edges == 2 * (graph.n_edges // 2)


@pytest.mark.parametrize("width", [0.1, 1.0, 0.0])
def test_distance_labels_are_distributions_peaked_at_the_distance(width: float) -> None:
    centres = torch.linspace(0.0, 6.7, 202, dtype=torch.float64)
    distances = torch.tensor([0.0, 1.234, 3.3, 9.0], dtype=torch.float64)
    q = smoothed_labels(distances, centres, width).exp()
    assert torch.allclose(q.sum(1), torch.ones(4, dtype=torch.float64))
    peak = centres[q.argmax(1)]
    assert torch.allclose(peak, distances.clamp(max=6.7), atol=centres[1] / 2 + 1e-12)
