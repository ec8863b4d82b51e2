import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.lj import LennardJones
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms
from ase.neighborlist import neighbor_list as ase_neighbor_list

from asegen.graph import (
    apply_strain,
    atoms_to_graph,
    batch_graphs,
    cell_volume,
    edge_vectors,
)


def structures():
    si = bulk("Si", "diamond", a=5.43) * (2, 1, 1)
    si.rattle(0.05, seed=0)
    water = molecule("H2O")
    slab = bulk("Cu", "fcc", a=3.6, cubic=True)
    slab.pbc = (True, True, False)
    slab.rattle(0.05, seed=2)
    return [si, water, slab]


def test_batch_layout_and_edge_vectors_match_ase():
    images = structures()
    graph = atoms_to_graph(images, cutoff=3.5, dtype=torch.float64)
    assert graph.n_structures == 3
    assert graph.n_atoms.tolist() == [len(a) for a in images]
    assert graph.batch.tolist() == [k for k, a in enumerate(images) for _ in a]
    assert graph.cell.shape == (3, 3, 3)
    assert graph.pbc.tolist() == [a.pbc.tolist() for a in images]
    vectors = edge_vectors(graph).numpy()
    start = 0
    offset = 0
    for atoms in images:
        expected = ase_neighbor_list("D", atoms, 3.5)
        n_edges = len(expected)
        got = vectors[start : start + n_edges]
        np.testing.assert_allclose(
            np.sort(np.linalg.norm(got, axis=1)),
            np.sort(np.linalg.norm(expected, axis=1)),
            atol=1e-12,
        )
        # edges of a structure only connect atoms of that structure
        ij = graph.edge_index[:, start : start + n_edges]
        assert ij.min() >= offset
        assert ij.max() < offset + len(atoms)
        start += n_edges
        offset += len(atoms)
    assert start == graph.n_edges


def test_batch_graphs_equals_building_all_at_once():
    images = structures()
    together = atoms_to_graph(images, cutoff=3.0)
    separately = batch_graphs([atoms_to_graph(a, cutoff=3.0) for a in images])
    for name in (
        "numbers",
        "positions",
        "cell",
        "pbc",
        "edge_index",
        "shifts",
        "batch",
    ):
        assert torch.equal(getattr(together, name), getattr(separately, name)), name


def test_labels_and_fixed_mask():
    images = structures()
    images[0].calc = SinglePointCalculator(
        images[0],
        energy=-1234.56789,  # not representable in float32
        forces=np.ones((len(images[0]), 3)),
        stress=np.arange(6.0),
    )
    images[2].set_constraint(FixAtoms(indices=[0, 2]))
    graph = atoms_to_graph(images, cutoff=3.0, dtype=torch.float64)
    assert graph.energy[0].item() == -1234.56789  # no float32 detour
    assert torch.isnan(graph.energy[1:]).all()
    n0 = len(images[0])
    assert (graph.forces[:n0] == 1).all()
    assert torch.isnan(graph.forces[n0:]).all()
    # Voigt xx yy zz yz xz xy = 0 1 2 3 4 5
    expected = torch.tensor([[0.0, 5.0, 4.0], [5.0, 1.0, 3.0], [4.0, 3.0, 2.0]])
    assert torch.equal(graph.stress[0], expected)
    offset = n0 + len(images[1])
    assert graph.fixed.nonzero().flatten().tolist() == [offset, offset + 2]


def test_no_labels_means_none():
    graph = atoms_to_graph(molecule("CH4"), cutoff=2.0)
    assert graph.energy is None
    assert graph.forces is None
    assert graph.stress is None
    assert not graph.fixed.any()


def test_to_changes_float_dtype_only():
    graph = atoms_to_graph(structures(), cutoff=3.0, dtype=torch.float32)
    assert graph.positions.dtype == torch.float32
    assert graph.shifts.dtype == torch.float32
    double = graph.to(dtype=torch.float64)
    assert double.positions.dtype == torch.float64
    assert double.edge_index.dtype == torch.int64
    assert double.pbc.dtype == torch.bool


def lennard_jones(graph, sigma, epsilon, cutoff):
    """Pair energy per structure, shifted to zero at the cutoff like ASE's LJ."""
    d = edge_vectors(graph).norm(dim=1)

    def pair(r):
        return 4 * epsilon * ((sigma / r) ** 12 - (sigma / r) ** 6)

    shifted = pair(d) - pair(torch.tensor(cutoff, dtype=d.dtype))
    per_edge = 0.5 * shifted  # every pair appears twice
    return torch.zeros(graph.n_structures, dtype=d.dtype).index_add_(
        0, graph.batch[graph.edge_index[0]], per_edge
    )


@pytest.mark.parametrize("cell_kind", ["cubic", "triclinic"])
def test_autograd_forces_and_stress_match_ase_lennard_jones(cell_kind):
    atoms = bulk("Ar", "fcc", a=5.3, cubic=cell_kind == "cubic") * (2, 2, 2)
    atoms.rattle(0.1, seed=4)
    sigma, epsilon, cutoff = 3.4, 0.0104, 6.0
    atoms.calc = LennardJones(sigma=sigma, epsilon=epsilon, rc=cutoff)
    graph = atoms_to_graph(atoms, cutoff=cutoff, dtype=torch.float64)
    positions = graph.positions.clone().requires_grad_(True)
    strain = torch.zeros(1, 3, 3, dtype=torch.float64, requires_grad=True)
    strained = apply_strain(graph.replace(positions=positions), strain)
    energy = lennard_jones(strained, sigma, epsilon, cutoff)
    gpos, gstrain = torch.autograd.grad(energy.sum(), [positions, strain])
    stress = gstrain / cell_volume(graph.cell)[:, None, None]
    assert energy.item() == pytest.approx(atoms.get_potential_energy(), abs=1e-10)
    np.testing.assert_allclose(-gpos.numpy(), atoms.get_forces(), atol=1e-10)
    np.testing.assert_allclose(
        stress[0].numpy(), atoms.get_stress(voigt=False), atol=1e-10
    )


def test_gradient_reaches_positions_and_cell():
    atoms = bulk("Si", "diamond", a=5.43)
    graph = atoms_to_graph(atoms, cutoff=4.0, dtype=torch.float64)
    positions = graph.positions.clone().requires_grad_(True)
    cell = graph.cell.clone().requires_grad_(True)
    lengths = edge_vectors(graph.replace(positions=positions, cell=cell)).norm(dim=1)
    gpos, gcell = torch.autograd.grad(lengths.sum(), [positions, cell])
    # translation invariance: the gradient on positions sums to zero
    assert torch.allclose(gpos.sum(0), torch.zeros(3, dtype=torch.float64), atol=1e-12)
    # scaling the cell by (1 + h) scales every length by (1 + h) with fractional
    # coordinates fixed: d(sum L)/dh = sum L = <dL/dcell, cell> + <dL/dpos, pos>
    directional = (gcell * graph.cell).sum() + (gpos * graph.positions).sum()
    assert directional.item() == pytest.approx(lengths.sum().item(), rel=1e-12)


def test_empty_structure_list_is_an_error():
    with pytest.raises(ValueError, match="at least one structure"):
        atoms_to_graph([], cutoff=3.0)


def test_single_atom_without_neighbours():
    graph = atoms_to_graph(Atoms("Cu"), cutoff=3.0)
    assert graph.n_edges == 0
    assert edge_vectors(graph).shape == (0, 3)


def test_named_labels_batch_by_their_declared_axis():
    images = structures()
    parts = [atoms_to_graph(a, cutoff=3.5, dtype=torch.float64) for a in images]
    charges = [torch.arange(len(a), dtype=torch.float64)[:, None] for a in images]
    parts[0] = parts[0].with_labels(
        atom={"charge": charges[0]}, structure={"gap": torch.tensor([[1.0, 2.0]])}
    )
    parts[2] = parts[2].with_labels(atom={"charge": charges[2]})
    batch = batch_graphs(parts)
    charge = batch.atom_labels["charge"]
    assert charge.shape == (sum(len(a) for a in images), 1)
    n0, n1 = len(images[0]), len(images[1])
    assert torch.equal(charge[:n0], charges[0])
    assert torch.isnan(charge[n0 : n0 + n1]).all()  # water has none
    assert torch.equal(charge[n0 + n1 :], charges[2])
    gap = batch.structure_labels["gap"]
    assert gap.shape == (3, 2)
    assert gap[0].tolist() == [1.0, 2.0]
    assert torch.isnan(gap[1:]).all()
    moved = batch.to(dtype=torch.float32)
    assert moved.atom_labels["charge"].dtype == torch.float32
    assert moved.structure_labels["gap"].dtype == torch.float32


def test_labels_are_checked_against_their_axis():
    graph = atoms_to_graph(bulk("Cu", cubic=True), cutoff=3.0)
    with pytest.raises(ValueError, match=r"label 'q' has shape \(3,\); it needs 4"):
        graph.with_labels(atom={"q": torch.zeros(3)})
    with pytest.raises(ValueError, match="structure label 'e' has shape"):
        graph.with_labels(structure={"e": torch.zeros(2, 1)})
    counted = graph.with_labels(structure={"n": torch.tensor([4])})
    plain = atoms_to_graph(bulk("Cu"), cutoff=3.0)
    with pytest.raises(ValueError, match="integer labels cannot be filled with NaN"):
        batch_graphs([counted, plain])
    both = batch_graphs(
        [counted, plain.with_labels(structure={"n": torch.tensor([1])})]
    )
    assert both.structure_labels["n"].tolist() == [4, 1]


def test_fixed_mask_joins_fixatoms_and_ignores_other_constraints():
    from ase.constraints import FixCartesian

    from asegen._structures import fixed_mask

    atoms = bulk("Cu", cubic=True).repeat((2, 1, 1))  # 8 atoms
    assert not fixed_mask(atoms).any()
    atoms.set_constraint(
        [
            FixAtoms(indices=[1]),
            FixAtoms(mask=[i > 5 for i in range(8)]),
            FixCartesian(3),
        ]
    )
    expected = [1, 6, 7]
    assert fixed_mask(atoms).nonzero()[0].tolist() == expected
    graph = atoms_to_graph(atoms, cutoff=3.0)
    assert graph.fixed.nonzero().flatten().tolist() == expected
