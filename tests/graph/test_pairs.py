"""Pair distances in one place: asegen.graph.pair_list and its readers."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, fcc111, molecule
from ase.constraints import FixAtoms
from ase.neighborlist import neighbor_list as ase_neighbor_list

from asegen._structures import check_separation
from asegen.diffusion.process import _nearest_neighbour_distance
from asegen.distil.md import shortest_distance
from asegen.errors import StructureError
from asegen.evaluation.metrics import PAIR_CUTOFF, min_distance
from asegen.evaluation.metrics import pair_list as evaluation_pairs
from asegen.graph import neighbor_list, pair_distances, pair_list


def rattled(atoms, seed=0, stdev=0.05):
    atoms = atoms.copy()
    atoms.rattle(stdev, seed=seed)
    return atoms


CASES = [
    rattled(bulk("Cu", "fcc", a=3.6) * (2, 2, 2)),
    rattled(bulk("NaCl", "rocksalt", a=5.6), seed=1),
    rattled(fcc111("Pd", (2, 2, 3), vacuum=5.0), seed=2),
    molecule("CH3CH2OH"),  # no cell
]


def by_pair(i, j, d, shifts):
    order = np.lexsort((*shifts.T, j, i))
    return i[order], j[order], d[order]


@pytest.mark.parametrize("atoms", CASES, ids=["Cu", "NaCl", "slab", "ethanol"])
def test_pair_list_has_the_distances_ase_has(atoms):
    pairs = pair_list(atoms, 5.0)
    shifts = neighbor_list(atoms, 5.0)[2]
    ours = by_pair(pairs.i, pairs.j, pairs.d, shifts)
    reference = by_pair(*ase_neighbor_list("ijdS", atoms, 5.0))
    np.testing.assert_array_equal(ours[0], reference[0])
    np.testing.assert_array_equal(ours[1], reference[1])
    np.testing.assert_allclose(ours[2], reference[2], rtol=1e-13, atol=0)


def test_pair_distances_read_tensors_as_arrays():
    atoms = CASES[1]
    i, j, shifts = neighbor_list(atoms, 4.0)
    tensors = (torch.from_numpy(a) for a in (i, j, shifts))
    np.testing.assert_array_equal(
        pair_distances(atoms, *tensors), pair_distances(atoms, i, j, shifts)
    )


@pytest.mark.parametrize("atoms", CASES, ids=["Cu", "NaCl", "slab", "ethanol"])
def test_evaluation_and_distil_read_the_same_distances(atoms):
    pairs = evaluation_pairs(atoms)
    np.testing.assert_array_equal(pairs.d, pair_list(atoms, PAIR_CUTOFF).d)
    _, d = ase_neighbor_list("id", atoms, 6.0)
    assert shortest_distance(atoms) == pytest.approx(d.min(), rel=1e-13)
    assert min_distance(atoms) == pytest.approx(d.min(), rel=1e-13)


def test_shortest_distance_is_inf_without_pairs():
    far = Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 7]])
    assert shortest_distance(far) == np.inf
    assert shortest_distance(Atoms()) == np.inf


def test_diffusion_nearest_neighbour_distance_is_unchanged():
    """The median over mobile atoms, as ASE's distances gave it before."""
    slab = CASES[2].copy()
    slab.set_constraint(FixAtoms(indices=range(4)))
    structures = [*CASES[:2], slab, Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 9]])]
    nearest = []
    for atoms in structures:
        i, d = ase_neighbor_list("id", atoms, 8.0)
        best = np.full(len(atoms), np.inf)
        np.minimum.at(best, i, d)
        mobile = np.ones(len(atoms), dtype=bool)
        if atoms.constraints:
            mobile[atoms.constraints[0].index] = False
        nearest.append(best[mobile & np.isfinite(best)])
    expected = float(np.median(np.concatenate(nearest)))
    assert _nearest_neighbour_distance(structures) == pytest.approx(expected, rel=1e-13)
    assert _nearest_neighbour_distance(structures[-1:]) is None


def test_check_separation_names_the_pair_from_tensor_pairs():
    atoms = Atoms("Cu3", positions=[[0, 0, 0], [3, 0, 0], [3.05, 0, 0]])
    pairs = tuple(torch.from_numpy(a) for a in neighbor_list(atoms, 1.0))
    with pytest.raises(StructureError, match=r"^Cu3 has atoms [12] and [12] 0\.05 "):
        check_separation(atoms, "Cu3", pairs)
    check_separation(atoms[:2], "Cu2")  # 3 Å apart: fine
