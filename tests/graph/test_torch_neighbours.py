"""torch_neighbor_list: the pair set of neighbor_list, computed in torch."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, fcc111, molecule
from hypothesis import given, settings
from test_neighbours import nearest_reference, pair_set, random_structures

import asegen.graph._torch_neighbours as torch_neighbours
from asegen.errors import ConfigError, StructureError
from asegen.graph import (
    SkinNeighborList,
    atoms_to_graph,
    edge_vectors,
    neighbor_list,
    open_neighbor_list,
    torch_neighbor_list,
)


def search(atoms, cutoff, device="cpu", **options):
    return torch_neighbor_list(
        torch.tensor(atoms.positions, device=device),
        torch.tensor(atoms.cell.array, device=device),
        atoms.pbc,
        cutoff,
        **options,
    )


def assert_same_pairs(atoms, cutoff, **options):
    i, j, shifts = search(atoms, cutoff, **options)
    assert i.dtype == j.dtype == shifts.dtype == torch.int64
    assert (i[1:] >= i[:-1]).all()  # sorted by centre
    reference = neighbor_list(atoms, cutoff, **options)
    assert len(i) == len(reference[0])
    assert pair_set(i, j, shifts) == pair_set(*reference)
    return i, j, shifts


def slab_far_outside():
    atoms = fcc111("Cu", (2, 2, 3), vacuum=5.0)
    atoms.positions[:, 2] += 100.0
    atoms.positions[0] -= atoms.cell[0] * 3  # also outside along a periodic axis
    return atoms


def mixed_triclinic():
    cell = [[4.0, 0.0, 0.0], [1.3, 3.5, 0.0], [0.0, 0.0, 0.0]]
    rng = np.random.default_rng(4)
    positions = rng.uniform(-3.0, 9.0, (7, 3))
    return Atoms("Cu7", positions=positions, cell=cell, pbc=[True, True, False])


def sparse_gas():
    # atoms hundreds of Å apart in pairs: many empty bins, few occupied
    rng = np.random.default_rng(5)
    centres = rng.uniform(0.0, 800.0, (20, 3))
    positions = np.concatenate([centres, centres + np.array([1.5, 0.0, 0.0])])
    return Atoms("Ar40", positions=positions)


@pytest.mark.parametrize(
    ("name", "atoms", "cutoff", "expected"),
    [
        ("one-atom cell, cutoff 8", bulk("Cu", "fcc", a=3.6), 8.0, 176),
        ("Si diamond", bulk("Si", "diamond", a=5.43) * (2, 2, 2), 5.0, None),
        ("slab TTF", fcc111("Cu", (2, 2, 3), vacuum=5.0), 6.0, None),
        ("slab, atoms far outside", slab_far_outside(), 6.0, None),
        ("mixed pbc, triclinic, zero row", mixed_triclinic(), 5.0, None),
        ("methane, zero cell", molecule("CH4"), 3.0, 20),
        ("benzene, zero cell", molecule("C6H6"), 2.5, None),
        ("single atom, zero cell", Atoms("Cu"), 3.0, 0),
        ("empty structure", Atoms(), 3.0, 0),
        ("empty periodic cell", Atoms(cell=[3.0, 3.0, 3.0], pbc=True), 3.0, 0),
        ("sparse gas", sparse_gas(), 2.0, 40),
        ("thin periodic axis", bulk("Cu", "fcc", a=3.6) * (1, 1, 6), 5.0, None),
    ],
)
def test_named_cases_match_neighbor_list(name, atoms, cutoff, expected):
    i, _, _ = assert_same_pairs(atoms, cutoff)
    if expected is not None:
        assert len(i) == expected


@settings(max_examples=150, deadline=None)
@given(random_structures())
def test_random_cells_match_neighbor_list(case):
    atoms, cutoff = case
    assert_same_pairs(atoms, cutoff)


@pytest.mark.parametrize(
    ("atoms", "cutoff"),
    [
        (bulk("Si", "diamond", a=5.43, cubic=True) * (8, 8, 8), 5.0),  # 4096 atoms
        (bulk("Cu", "fcc", a=3.6) * (12, 11, 13), 6.0),  # triclinic, 1716 atoms
    ],
)
def test_bulk_supercells_match_neighbor_list(atoms, cutoff):
    atoms = atoms.copy()
    atoms.rattle(0.05, seed=2)
    assert_same_pairs(atoms, cutoff)


def test_small_chunks_give_the_same_pairs(monkeypatch):
    # many chunks, some ending inside a bin and some smaller than one row
    atoms = bulk("Si", "diamond", a=5.43, cubic=True) * (3, 3, 3)
    atoms.rattle(0.05, seed=3)
    reference = pair_set(*search(atoms, 5.0))
    for chunk in (1, 7, 1000):
        monkeypatch.setattr(torch_neighbours, "_CHUNK", chunk)
        assert pair_set(*search(atoms, 5.0)) == reference


@pytest.mark.parametrize("k", [1, 4, 8, 12, 14, 30])
@pytest.mark.parametrize(
    "atoms",
    [
        bulk("Cu", "fcc", a=3.6, cubic=True) * (3, 3, 3),  # 12 neighbours tie
        bulk("Si", "diamond", a=5.43, cubic=True),
        bulk("Cu", "fcc", a=3.6),  # one atom, ties among its own images
    ],
    ids=["fcc", "diamond", "fcc-primitive"],
)
def test_max_neighbors_cut_matches_numpy_with_ties(atoms, k):
    i, j, shifts = assert_same_pairs(atoms, 6.0, max_neighbors=k)
    assert torch.bincount(i).max() <= k
    assert pair_set(i, j, shifts) == nearest_reference(atoms, 6.0, k)


def test_max_neighbors_ties_do_not_depend_on_translation():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
    moved = atoms.copy()
    moved.positions += [0.37, -5.1, 12.4]
    first = pair_set(*search(atoms, 5.0, max_neighbors=8))
    assert pair_set(*search(moved, 5.0, max_neighbors=8)) == first


def test_float32_positions_are_searched_in_float64():
    atoms = bulk("Si", "diamond", a=5.43, cubic=True) * (2, 2, 2)
    atoms.rattle(0.05, seed=4)
    single = torch.tensor(atoms.positions, dtype=torch.float32)
    atoms.positions = single.double().numpy()  # what the float32 input holds
    i, j, shifts = torch_neighbor_list(
        single, torch.tensor(atoms.cell.array, dtype=torch.float32), atoms.pbc, 4.5
    )
    assert pair_set(i, j, shifts) == pair_set(*neighbor_list(atoms, 4.5))


def test_float32_search_away_from_the_cutoff():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (3, 3, 3)
    atoms.rattle(0.05, seed=6)
    found = search(atoms, 4.0, dtype=torch.float32)  # no pair within 1e-3 Å of 4
    assert pair_set(*found) == pair_set(*neighbor_list(atoms, 4.0))


def test_boundary_follows_the_defining_vector():
    # d**2 == cutoff**2 exactly: excluded, like matscipy; two atoms at the
    # same position are a pair
    d = np.linalg.norm([0.1, 0.2, 0.3])
    atoms = Atoms("Cu2", positions=[[0.0, 0.0, 0.0], [0.1, 0.2, 0.3]])
    assert len(search(atoms, d)[0]) == len(neighbor_list(atoms, d)[0]) == 0
    beyond = np.nextafter(d, 1.0)
    assert len(search(atoms, beyond)[0]) == len(neighbor_list(atoms, beyond)[0]) == 2
    twins = Atoms("Cu2", positions=[[1.0, 1.0, 1.0]] * 2, cell=[3, 3, 3], pbc=True)
    assert_same_pairs(twins, 3.5)


def test_inputs_that_require_grad_and_numpy_cell():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    positions = torch.tensor(atoms.positions, requires_grad=True)
    i, j, shifts = torch_neighbor_list(
        positions, atoms.cell.array, [True, True, True], 3.0
    )
    assert pair_set(i, j, shifts) == pair_set(*neighbor_list(atoms, 3.0))


def test_errors_are_one_line():
    atoms = bulk("Cu")
    atoms.positions[0, 1] = np.nan
    with pytest.raises(StructureError, match="non-finite position"):
        search(atoms, 3.0)
    flat = Atoms("Cu2", positions=[[0, 0, 0], [1, 1, 0]], cell=[3, 3, 0], pbc=True)
    with pytest.raises(StructureError, match="zero volume"):
        search(flat, 3.0)
    with pytest.raises(ConfigError, match="cutoff"):
        search(bulk("Cu"), 0.0)
    with pytest.raises(ConfigError, match="max_neighbors"):
        search(bulk("Cu"), 3.0, max_neighbors=0)


@pytest.mark.parametrize("max_neighbors", [None, 10])
def test_torch_skin_list_equals_fresh_search_while_atoms_move(max_neighbors):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
    cache = SkinNeighborList(
        4.0, skin=1.0, max_neighbors=max_neighbors, backend="torch"
    )
    rng = np.random.default_rng(0)
    for step in range(30):
        atoms.positions += rng.normal(0.0, 0.03, atoms.positions.shape)
        if step == 20:
            atoms.set_cell(atoms.cell * 1.01, scale_atoms=True)
        pairs = cache(atoms)
        assert all(isinstance(a, torch.Tensor) for a in pairs)
        fresh = neighbor_list(atoms, 4.0, max_neighbors=max_neighbors)
        assert pair_set(*pairs) == pair_set(*fresh)
    assert 2 <= cache.searches < 15


def test_skin_list_rejects_unknown_backend():
    with pytest.raises(ConfigError, match="backend"):
        SkinNeighborList(3.0, backend="cuda")


def test_graph_from_tensor_pairs_equals_graph_from_numpy_pairs():
    images = [bulk("Cu", "fcc", a=3.6, cubic=True), molecule("CH4")]
    for atoms in images:
        atoms.rattle(0.05, seed=1)
    numpy_pairs = [neighbor_list(atoms, 3.5) for atoms in images]
    torch_pairs = [search(atoms, 3.5) for atoms in images]
    a = atoms_to_graph(images, pairs=numpy_pairs, dtype=torch.float64)
    b = atoms_to_graph(images, pairs=torch_pairs, dtype=torch.float64)
    assert pair_set(*a.edge_index, a.shifts.long()) == pair_set(
        *b.edge_index, b.shifts.long()
    )
    assert torch.equal(a.batch, b.batch)
    lengths_a = edge_vectors(a).norm(dim=1).sort().values
    lengths_b = edge_vectors(b).norm(dim=1).sort().values
    torch.testing.assert_close(lengths_a, lengths_b, rtol=0, atol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_search_equals_cpu_search():
    atoms = bulk("Si", "diamond", a=5.43, cubic=True) * (6, 6, 6)
    atoms.rattle(0.05, seed=7)
    for options in ({}, {"max_neighbors": 12}):
        on_gpu = search(atoms, 5.0, device="cuda", **options)
        assert all(a.device.type == "cuda" for a in on_gpu)
        on_cpu = search(atoms, 5.0, **options)
        assert all(torch.equal(a.cpu(), b) for a, b in zip(on_gpu, on_cpu, strict=True))


def open_batch(images):
    positions = torch.tensor(np.concatenate([a.positions for a in images]))
    batch = torch.repeat_interleave(torch.tensor([len(a) for a in images]))
    return positions, batch


@pytest.mark.parametrize("max_neighbors", [None, 3])
def test_open_neighbor_list_matches_neighbor_list_structure_by_structure(
    max_neighbors,
):
    cluster = Atoms("Cu6", positions=np.random.default_rng(2).uniform(0, 5, (6, 3)))
    doubled = Atoms("H2", positions=[[1.0, 1.0, 1.0]] * 2)  # same place: a pair
    images = [molecule("C6H6"), cluster, Atoms("Cu"), doubled, molecule("CH4")]
    i, j = open_neighbor_list(*open_batch(images), 2.6, max_neighbors=max_neighbors)
    assert (i[1:] >= i[:-1]).all()
    offsets = np.cumsum([0, *(len(a) for a in images)])
    expected = set()
    for atoms, offset in zip(images, offsets[:-1], strict=True):
        ri, rj, _ = neighbor_list(atoms, 2.6, max_neighbors=max_neighbors)
        expected |= {
            (int(a) + offset, int(b) + offset) for a, b in zip(ri, rj, strict=True)
        }
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == expected
    assert len(i) == len(expected)
