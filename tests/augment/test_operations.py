"""The pure operations: strain, rattle, steps, weights, similarity, separation."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from hypothesis import given, settings
from hypothesis import strategies as st

from asegen.augment.operations import (
    cartesian,
    choose_index,
    early_stop_probability,
    fractional,
    log_uniform,
    max_force,
    parent_probabilities,
    quantize,
    rattle,
    relax_step,
    similar_to_any,
    strain_cell,
    too_close,
)


def test_strain_scales_each_lattice_vector_by_its_own_length():
    """D3/column fix: row i moves by cell_sigma·|a_i|·z_i (the anchor used |a_j|)."""
    reference = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 4.0]])
    normals = np.ones((3, 3))
    strained = strain_cell(reference, np.array([True] * 3), normals, 0.1)
    np.testing.assert_allclose(strained - reference, [[0.1] * 3, [0.2] * 3, [0.4] * 3])


def test_strain_leaves_non_periodic_axes_alone():
    reference = np.diag([3.0, 4.0, 20.0])
    normals = np.random.default_rng(0).standard_normal((3, 3))
    strained = strain_cell(reference, np.array([True, True, False]), normals, 0.05)
    np.testing.assert_array_equal(strained[2], reference[2])
    assert not np.allclose(strained[:2], reference[:2])


def test_strained_positions_keep_lattice_coordinates_also_for_slabs():
    cell = np.array([[3.0, 0.0, 0.0], [1.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
    new_cell = cell + np.array([[0.1, 0.05, 0.0], [0.0, -0.1, 0.0], [0.0, 0.0, 0.0]])
    positions = np.random.default_rng(1).uniform(0, 3, (5, 3))
    moved = cartesian(fractional(positions, cell), new_cell)
    np.testing.assert_allclose(fractional(moved, new_cell), fractional(positions, cell))
    np.testing.assert_allclose(moved[:, 2], positions[:, 2])  # height kept


def test_rattle_has_no_centre_of_mass_drift():
    normals = np.random.default_rng(2).standard_normal((10, 3))
    displacement = rattle(normals, 0.05)
    np.testing.assert_allclose(displacement.mean(axis=0), 0.0, atol=1e-15)
    np.testing.assert_allclose(displacement, 0.05 * (normals - normals.mean(axis=0)))


def test_relax_step_moves_every_atom_by_the_step_along_its_force():
    forces = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, -1e-3], [0.0, 0.0, 0.0]])
    moved = relax_step(np.zeros((3, 3)), forces, 0.1)
    np.testing.assert_allclose(moved[0], [0.06, 0.08, 0.0])
    np.testing.assert_allclose(moved[1], [0.0, 0.0, -0.1])
    np.testing.assert_array_equal(moved[2], 0.0)


def test_log_uniform_spans_the_range_on_a_log_scale():
    assert log_uniform(0.0, 0.01, 0.1) == pytest.approx(0.01)
    assert log_uniform(0.5, 0.01, 0.1) == pytest.approx(np.sqrt(0.01 * 0.1))
    assert log_uniform(0.3, 0.05, 0.05) == pytest.approx(0.05)


def test_max_force_and_early_stop_probability():
    assert max_force(np.array([[3.0, 4.0, 0.0], [1.0, 0.0, 0.0]])) == 5.0
    assert np.isnan(max_force(np.array([[np.inf, 0.0, 0.0]])))
    assert early_stop_probability(-1e6, 1e-5) == 0.25  # no overflow
    assert early_stop_probability(0.1, 0.1) == 0.25  # capped
    assert early_stop_probability(0.2, 0.1) == pytest.approx(np.exp(-2.0))


def test_parent_probabilities_are_the_anchor_mixture():
    energy = np.array([0.30, 0.10, 0.20])
    levels = np.array([0.0, 1.0, 2.0])
    kT, beta = 0.05, 0.3
    boltzmann = np.exp(-(energy - energy[0]) / kT)  # the anchor's form
    expected = (1 - beta) * boltzmann / boltzmann.sum() + beta * (levels + 1) / 6
    probabilities = parent_probabilities(energy, levels, kT=kT, beta=beta)
    np.testing.assert_allclose(probabilities, expected)
    assert choose_index(probabilities, 0.0) == 0
    assert choose_index(probabilities, 0.999999) == 2


@pytest.mark.parametrize("temperature", [1e-3, 0.1, 300.0])
def test_parent_probabilities_stay_finite_at_low_temperature(temperature):
    """D8: a member far below the seed overflowed the anchor's weights to NaN."""
    kT = 8.617333262145e-5 * temperature
    energy = np.array([0.0, -5.0, 0.2])
    with np.errstate(over="raise", invalid="raise"):
        probabilities = parent_probabilities(energy, np.zeros(3), kT=kT, beta=0.0)
    assert np.isfinite(probabilities).all()
    assert probabilities.sum() == pytest.approx(1.0)
    assert probabilities[1] == pytest.approx(1.0)


def _loop_reference(candidate, cell, pbc, members, threshold):
    """One member at a time, in plain Python (what the vectorised test must equal)."""
    for member in members:
        distances = []
        for f_s, f_m in zip(candidate, member, strict=True):
            delta = f_s - f_m
            for axis in range(3):
                if pbc[axis]:
                    delta[axis] -= np.floor(delta[axis] + 0.5)
            distances.append(np.linalg.norm(delta @ cell))
        if np.mean(distances) < threshold:
            return True
    return False


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    pbc=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    scale=st.floats(0.001, 0.3),
)
def test_vectorised_similarity_equals_a_loop_over_members(seed, pbc, scale):
    """D12: one vectorised pass over every member gives the loop's answer."""
    rng = np.random.default_rng(seed)
    cell = np.diag([4.0, 5.0, 6.0]) + rng.normal(0, 0.5, (3, 3))
    candidate = rng.uniform(0, 1, (6, 3))
    members = (
        candidate[None]
        + rng.normal(0, scale, (7, 6, 3))
        + rng.integers(-1, 2, (7, 6, 3))
    )
    pbc = np.array(pbc)
    for threshold in (0.05, 0.2, 0.5):
        assert similar_to_any(candidate, cell, pbc, members.copy(), threshold) == (
            _loop_reference(candidate, cell, pbc, members, threshold)
        )


def test_similarity_scans_members_past_the_first_pass():
    rng = np.random.default_rng(6)
    cell = np.diag([5.0, 6.0, 7.0])
    members = rng.uniform(0, 1, (5000, 8, 3))  # more than one cache-sized pass
    candidate = members[-1] + 1e-4
    assert similar_to_any(candidate, cell, np.ones(3, bool), members, 0.01)
    assert not similar_to_any(candidate, cell, np.ones(3, bool), members[:-1], 0.01)


def test_similarity_uses_the_minimum_image():
    """D2: an atom wrapped through the boundary is not far away."""
    cu = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    shifted = cu.positions.copy()
    shifted[0] += cu.cell[0]  # the same structure, one atom in the next image
    members = fractional(cu.positions, cu.cell.array)[None]
    candidate = fractional(shifted, cu.cell.array)
    assert similar_to_any(candidate, cu.cell.array, cu.pbc, members, 0.01)
    assert not similar_to_any(
        candidate, cu.cell.array, np.zeros(3, bool), members, 0.01
    )


def test_similarity_sees_through_a_strain_of_a_non_orthogonal_cell():
    """D1: a strained copy of an fcc-primitive cell is the same structure.

    The anchor mapped positions back with C0·C'⁻¹ instead of C'⁻¹·C0 and saw
    mean displacements of several tenths of an Å here.
    """
    cu = bulk("Cu", "fcc", a=3.61).repeat(3)  # primitive, non-orthogonal
    rng = np.random.default_rng(4)
    cell = cu.cell.array
    strained = strain_cell(cell, cu.pbc, rng.standard_normal((3, 3)), 0.02)
    moved = cartesian(fractional(cu.positions, cell), strained)
    members = fractional(cu.positions, cell)[None]
    assert similar_to_any(fractional(moved, strained), strained, cu.pbc, members, 1e-6)
    anchor_mapped = moved @ (cell @ np.linalg.inv(strained))  # the anchor's matrix
    assert np.linalg.norm(anchor_mapped - cu.positions, axis=1).mean() > 0.1


def test_too_close_counts_periodic_images():
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [1.5, 0, 0]], cell=[3.0, 8, 8], pbc=True)
    assert not too_close(atoms, 1.4)
    assert too_close(atoms, 1.6)
    atoms.positions[1] = [2.7, 0, 0]  # 0.3 Å from the first atom's image
    assert too_close(atoms, 0.5)
    molecule = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.4]])  # no cell at all
    assert too_close(molecule, 0.5)
    assert not too_close(molecule, 0.3)


@pytest.mark.parametrize("pbc", [False, (True, True, False)], ids=["molecule", "slab"])
def test_too_close_equals_brute_force(pbc):
    rng = np.random.default_rng(2)
    for _ in range(20):
        atoms = Atoms("Cu12", positions=rng.uniform(0, 6, (12, 3)), cell=[6, 6, 20])
        atoms.pbc = pbc
        distances = atoms.get_all_distances(mic=atoms.pbc.any())
        shortest = distances[np.triu_indices(12, 1)].min()
        for threshold in (0.999 * shortest, 1.001 * shortest):
            assert too_close(atoms, threshold) == (shortest < threshold)


def test_quantize_round_trips_through_extxyz_precision():
    values = np.random.default_rng(5).uniform(-50, 50, 1000)
    rounded = quantize(values)
    np.testing.assert_array_equal(
        np.array([float(f"{value:16.8f}") for value in rounded]), rounded
    )
