import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc111, molecule
from ase.neighborlist import neighbor_list as ase_neighbor_list
from hypothesis import given, settings
from hypothesis import strategies as st

from asegen.errors import ConfigError, StructureError
from asegen.graph import SkinNeighborList, neighbor_list


def pair_set(i, j, shifts):
    return set(zip(i.tolist(), j.tolist(), map(tuple, shifts.tolist()), strict=True))


def assert_same_pairs_as_ase(atoms, cutoff):
    ours = neighbor_list(atoms, cutoff)
    reference = ase_neighbor_list("ijS", atoms, cutoff)
    assert len(ours[0]) == len(reference[0])
    assert pair_set(*ours) == pair_set(*reference)
    return ours


@pytest.mark.parametrize(
    ("name", "atoms", "cutoff"),
    [
        ("one-atom cell, cutoff 8", bulk("Cu", "fcc", a=3.6), 8.0),
        ("Si diamond", bulk("Si", "diamond", a=5.43) * (2, 2, 2), 5.0),
        ("slab TTF", fcc111("Cu", (2, 2, 3), vacuum=5.0), 6.0),
        ("methane, zero cell", molecule("CH4"), 3.0),
        ("single atom, zero cell", Atoms("Cu"), 3.0),
    ],
)
def test_named_cases_match_ase(name, atoms, cutoff):
    assert_same_pairs_as_ase(atoms, cutoff)


def test_zero_cell_molecule_is_handled():
    # matscipy alone raises a LinAlgError on a zero cell
    atoms = molecule("C6H6")
    i, _, shifts = assert_same_pairs_as_ase(atoms, 2.5)
    assert (shifts == 0).all()
    assert len(i) > 0


def test_slab_with_atoms_far_outside_the_cell():
    atoms = fcc111("Cu", (2, 2, 3), vacuum=5.0)
    atoms.positions[:, 2] += 100.0
    atoms.positions[0] -= atoms.cell[0] * 3  # also outside along a periodic axis
    assert_same_pairs_as_ase(atoms, 6.0)


def test_periodic_self_images_present():
    i, j, shifts = neighbor_list(bulk("Cu", "fcc", a=3.6), 3.0)
    assert (i == j).all()
    assert len(i) == 12
    assert not (shifts == 0).all(axis=1).any()


@st.composite
def random_structures(draw):
    n = draw(st.integers(1, 6))
    pbc = draw(st.tuples(st.booleans(), st.booleans(), st.booleans()))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # a triclinic cell: diagonal 2-6 Å, off-diagonals up to half of it
    cell = np.diag(rng.uniform(2.0, 6.0, 3))
    cell[np.tril_indices(3, -1)] = rng.uniform(-1.0, 1.0, 3) * 0.5 * cell[0, 0]
    if draw(st.booleans()):  # zero vectors on the non-periodic axes
        cell[~np.array(pbc)] = 0.0
    positions = rng.uniform(-1.0, 2.0, (n, 3)) @ (cell + 3.0 * np.eye(3))
    cutoff = draw(st.floats(0.5, 7.0))
    return Atoms(["Cu"] * n, positions=positions, cell=cell, pbc=pbc), cutoff


@settings(max_examples=150, deadline=None)
@given(random_structures())
def test_random_cells_match_ase(case):
    atoms, cutoff = case
    assert_same_pairs_as_ase(atoms, cutoff)


def test_both_directions_present():
    atoms = bulk("Si", "diamond", a=5.43) * (2, 1, 1)
    atoms.rattle(0.1, seed=3)
    pairs = pair_set(*neighbor_list(atoms, 4.0))
    assert all((j, i, tuple(-s for s in shift)) in pairs for i, j, shift in pairs)


def test_translation_and_wrapping_keep_pair_distances():
    atoms = bulk("Si", "diamond", a=5.43) * (2, 2, 1)
    atoms.rattle(0.1, seed=1)
    moved = atoms.copy()
    moved.positions += [13.1, -4.7, 2.2]

    def distances(a):
        i, j, s = neighbor_list(a, 4.5)
        d = a.positions[j] - a.positions[i] + s @ a.cell
        return np.sort(np.linalg.norm(d, axis=1))

    reference = distances(atoms)
    np.testing.assert_allclose(distances(moved), reference, atol=1e-10)
    moved.wrap()
    np.testing.assert_allclose(distances(moved), reference, atol=1e-10)


def nearest_reference(atoms, cutoff, k):
    """Brute-force K-nearest selection with the documented tie-breaking."""
    i, j, s, d = ase_neighbor_list("ijSd", atoms, cutoff)
    kept = set()
    for centre in np.unique(i):
        rows = np.flatnonzero(i == centre)
        keys = sorted(rows, key=lambda r: (round(d[r], 8), j[r], *s[r]))
        kept |= {(centre, j[r], tuple(s[r])) for r in keys[:k]}
    return kept


@pytest.mark.parametrize("k", [1, 4, 12, 30])
def test_max_neighbors_keeps_nearest_with_stable_ties(k):
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)  # many exact ties
    i, j, s = neighbor_list(atoms, 6.0, max_neighbors=k)
    assert np.bincount(i).max() <= k
    assert pair_set(i, j, s) == nearest_reference(atoms, 6.0, k)


@pytest.mark.parametrize("k", [1, 4, 12, 30])
def test_max_neighbors_keeps_nearest_in_a_rattled_cell(k):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
    atoms.rattle(0.05, seed=3)  # no ties: one sort decides the cut
    i, j, s = neighbor_list(atoms, 6.0, max_neighbors=k)
    full = neighbor_list(atoms, 6.0)
    kept = np.isin(
        np.column_stack([full[0], full[1], full[2]]).view("i8,i8,i8,i8,i8"),
        np.column_stack([i, j, s]).view("i8,i8,i8,i8,i8"),
    ).ravel()
    # survivors keep the order of the uncut list
    np.testing.assert_array_equal(full[0][kept], i)
    np.testing.assert_array_equal(full[1][kept], j)
    assert pair_set(i, j, s) == nearest_reference(atoms, 6.0, k)


def test_max_neighbors_ties_do_not_depend_on_atom_translation():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    moved = atoms.copy()
    moved.positions += 0.37
    first = pair_set(*neighbor_list(atoms, 5.0, max_neighbors=14))
    second = pair_set(*neighbor_list(moved, 5.0, max_neighbors=14))
    assert first == second


def test_errors_are_one_line():
    atoms = bulk("Cu")
    atoms.positions[0, 1] = np.nan
    with pytest.raises(StructureError, match="non-finite position"):
        neighbor_list(atoms, 3.0)
    flat = Atoms("Cu2", positions=[[0, 0, 0], [1, 1, 0]], cell=[3, 3, 0], pbc=True)
    with pytest.raises(StructureError, match="zero volume"):
        neighbor_list(flat, 3.0)
    with pytest.raises(ConfigError, match="cutoff"):
        neighbor_list(bulk("Cu"), 0.0)
    with pytest.raises(ConfigError, match="max_neighbors"):
        neighbor_list(bulk("Cu"), 3.0, max_neighbors=0)


def test_flat_cell_is_fine_when_that_axis_is_not_periodic():
    flat = Atoms(
        "Cu2", positions=[[0, 0, 0], [1, 1, 0]], cell=[3, 3, 0], pbc=[True, True, False]
    )
    assert_same_pairs_as_ase(flat, 3.5)


@pytest.mark.parametrize("max_neighbors", [None, 10])
def test_skin_list_equals_fresh_search_while_atoms_move(max_neighbors):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
    cache = SkinNeighborList(4.0, skin=1.0, max_neighbors=max_neighbors)
    rng = np.random.default_rng(0)
    for step in range(30):
        atoms.positions += rng.normal(0.0, 0.03, atoms.positions.shape)
        if step == 20:
            atoms.set_cell(atoms.cell * 1.01, scale_atoms=True)
        fresh = neighbor_list(atoms, 4.0, max_neighbors=max_neighbors)
        assert pair_set(*cache(atoms)) == pair_set(*fresh)
    assert (
        2 <= cache.searches < 15
    )  # reused most of the time, rebuilt on the cell change


def test_skin_zero_searches_every_time():
    atoms = bulk("Cu", "fcc", a=3.6)
    cache = SkinNeighborList(3.0, skin=0.0)
    for _ in range(3):
        cache(atoms)
    assert cache.searches == 3


# -- alignn's cutoff_extra fallback ---------------------------------------------


def counts(i, n):
    return np.bincount(np.asarray(i), minlength=n)


def test_cutoff_extra_grows_the_cutoff_until_every_atom_has_k_neighbours():
    import torch

    from asegen.graph import torch_neighbor_list

    # a dilute box: at 3 Å every atom is isolated, K = 4 needs a larger search
    atoms = Atoms("Cu4", positions=[[0, 0, 0], [4, 0, 0], [0, 4.5, 0], [0, 0, 5]])
    atoms.cell = [9.0, 9.5, 10.0]
    atoms.pbc = True
    assert len(neighbor_list(atoms, 3.0)[0]) == 0
    i, j, shifts = neighbor_list(atoms, 3.0, max_neighbors=4, cutoff_extra=0.5)
    assert (counts(i, 4) == 4).all()
    # the same pairs as a plain search at the cutoff the fallback reached
    d = np.linalg.norm(
        atoms.positions[j] - atoms.positions[i] + shifts @ atoms.cell.array, axis=1
    )
    reached = 3.0 + 0.5 * np.ceil((d.max() - 3.0) / 0.5 + 1e-9)
    wide = neighbor_list(atoms, reached, max_neighbors=4)
    assert pair_set(i, j, shifts) == pair_set(*wide)
    # the torch search applies the same fallback
    ours = torch_neighbor_list(
        torch.tensor(atoms.positions),
        torch.tensor(atoms.cell.array),
        atoms.pbc,
        3.0,
        max_neighbors=4,
        cutoff_extra=0.5,
    )
    assert pair_set(*(t.numpy() for t in ours)) == pair_set(i, j, shifts)


def test_cutoff_extra_without_a_cap_asks_one_neighbour_and_changes_nothing_dense():
    dense = bulk("Cu", cubic=True)
    plain = neighbor_list(dense, 3.0)
    assert pair_set(*neighbor_list(dense, 3.0, cutoff_extra=3.0)) == pair_set(*plain)
    lonely = Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 5.0]], cell=[20] * 3, pbc=True)
    i, _, _ = neighbor_list(lonely, 3.0, cutoff_extra=3.0)  # grows to 6 Å
    assert (counts(i, 2) == 1).all()


def test_cutoff_extra_stops_at_what_a_molecule_holds():
    water = molecule("H2O")  # 2 neighbours at most, whatever the cutoff
    i, _, _ = neighbor_list(water, 0.5, max_neighbors=12, cutoff_extra=0.5)
    assert (counts(i, 3) == 2).all()
    with pytest.raises(ConfigError, match="cutoff_extra must be positive"):
        neighbor_list(water, 0.5, cutoff_extra=0.0)


def test_skin_list_with_cutoff_extra_equals_a_fresh_search():
    atoms = Atoms("Cu3", positions=[[0, 0, 0], [2.5, 0, 0], [0, 0, 6]])
    atoms.cell = [12.0] * 3
    atoms.pbc = True
    skin = SkinNeighborList(3.0, 1.0, max_neighbors=2, cutoff_extra=1.0)
    for shift in (0.0, 0.1, 0.2):
        moved = atoms.copy()
        moved.positions[2, 2] += shift
        fresh = neighbor_list(moved, 3.0, max_neighbors=2, cutoff_extra=1.0)
        assert pair_set(*skin(moved)) == pair_set(*fresh)
