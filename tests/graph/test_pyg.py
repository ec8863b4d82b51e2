"""torch-geometric interoperability: exact round trips, the dataset, PyG's SchNet."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import bulk, molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms
from ase.io import read

pytest.importorskip(
    "torch_geometric", reason="torch-geometric is the optional extra asegen[pyg]"
)
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader
from torch_geometric.nn.models import SchNet

from asegen import data as h5
from asegen.errors import ConfigError
from asegen.graph import (
    atoms_to_graph,
    batch_graphs,
    edge_vectors,
    from_pyg,
    neighbor_list,
    pyg,
    to_pyg,
)

EXAMPLES = Path(__file__).parents[2] / "examples" / "data" / "cu_au_emt.xyz"


def emt_structures(n):
    return read(EXAMPLES, index=f":{n}")


def mixed_structures():
    """Labelled alloy cells, an unlabelled molecule, a slab with fixed atoms."""
    water = molecule("H2O")
    slab = bulk("Cu", "fcc", a=3.6, cubic=True) * (1, 1, 2)
    slab.pbc = (True, True, False)
    slab.rattle(0.05, seed=1)
    slab.set_constraint(FixAtoms(indices=[0, 1]))
    slab.calc = SinglePointCalculator(slab, energy=-3.5, forces=np.ones((len(slab), 3)))
    return [*emt_structures(2), water, slab]


def with_named_labels(graph):
    n = len(graph.numbers)
    return graph.with_labels(
        atom={"site_index": torch.arange(n), "charge": torch.linspace(-1, 1, n)},
        structure={"gap": torch.arange(graph.n_structures, dtype=torch.float64)},
    )


def assert_same_graph(got, expected):
    for item in dataclasses.fields(expected):
        a, b = getattr(got, item.name), getattr(expected, item.name)
        if isinstance(b, dict):
            assert a.keys() == b.keys(), item.name
            for name in b:
                torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)
        elif b is None:
            assert a is None, item.name
        else:
            torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)


def test_a_batch_converts_to_pyg_and_back_exactly():
    graph = with_named_labels(
        atoms_to_graph(mixed_structures(), cutoff=4.0, dtype=torch.float64)
    )
    data = to_pyg(graph)
    assert isinstance(data, Batch)
    assert data.num_graphs == 4
    assert torch.equal(data.z, graph.numbers)
    assert torch.equal(data.batch, graph.batch)
    assert data.cell.shape == (4, 3, 3)
    assert data.y.shape == (4,)
    assert torch.isnan(data.y[2])  # the molecule has no energy
    assert data.structure_labels["gap"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert data.fixed.sum() == 2
    torch.testing.assert_close(pyg.edge_vectors(data), edge_vectors(graph))
    assert_same_graph(from_pyg(data), graph)


def test_one_structure_is_a_plain_data_and_converts_back_exactly():
    graph = atoms_to_graph(emt_structures(1), cutoff=4.0)
    data = to_pyg(graph)
    assert isinstance(data, pyg.AtomsData)
    assert not isinstance(data, Batch)
    assert data.y.item() == pytest.approx(float(graph.energy[0]))
    torch.testing.assert_close(pyg.edge_vectors(data), edge_vectors(graph))
    assert_same_graph(from_pyg(data), graph)


def test_pyg_collate_of_single_graphs_equals_batch_graphs():
    parts = [
        with_named_labels(atoms_to_graph(atoms, cutoff=4.0))
        for atoms in mixed_structures()
    ]
    collated = Batch.from_data_list([to_pyg(part) for part in parts])
    expected = batch_graphs(parts)
    # an integer label named *index* is not shifted by the atom offset
    assert (
        collated.atom_labels["site_index"].max()
        == max(len(part.numbers) for part in parts) - 1
    )
    assert_same_graph(from_pyg(collated), expected)


def test_a_molecule_from_elsewhere_converts_and_bad_data_is_one_line():
    atoms = molecule("CH4")
    i, j, _ = neighbor_list(atoms, 2.0)
    data = Data(
        z=torch.from_numpy(atoms.numbers).long(),
        pos=torch.tensor(atoms.positions, dtype=torch.float32),
        edge_index=torch.from_numpy(np.stack([i, j])).long(),
        y=torch.tensor([-24.0]),
    )
    graph = from_pyg(data)
    assert graph.n_structures == 1
    assert graph.n_atoms.tolist() == [5]
    assert not graph.pbc.any()
    assert not graph.cell.any()
    assert graph.shifts.shape == (len(i), 3)
    assert not graph.shifts.any()
    assert graph.energy.tolist() == [-24.0]
    with pytest.raises(ConfigError, match="no 'edge_index'") as error:
        from_pyg(Data(z=data.z, pos=data.pos))
    assert "\n" not in str(error.value)
    with pytest.raises(ConfigError, match=r"y of shape \(1, 2\)"):
        from_pyg(
            Data(z=data.z, pos=data.pos, edge_index=data.edge_index, y=torch.ones(1, 2))
        )


@pytest.fixture
def emt_h5(tmp_path):
    path = tmp_path / "cu_au.h5"
    unlabelled = bulk("Au", cubic=True)
    h5.write(path, [*emt_structures(11), unlabelled])
    return path


def test_the_hdf5_dataset_is_a_pyg_dataset_with_periodic_edges(emt_h5):
    dataset = pyg.PygDataset(emt_h5, cutoff=4.0)
    assert len(dataset) == 12
    item = dataset[3]
    atoms = h5.read(emt_h5, 3)
    i, j, S = neighbor_list(atoms, 4.0)
    assert torch.equal(item.edge_index, torch.from_numpy(np.stack([i, j])))
    vectors = atoms.positions[j] - atoms.positions[i] + S @ atoms.cell.array
    torch.testing.assert_close(
        pyg.edge_vectors(item).double(), torch.from_numpy(vectors), atol=1e-5, rtol=0
    )
    assert item.y.item() == pytest.approx(atoms.get_potential_energy(), rel=1e-6)
    assert len(dataset[:5]) == 5  # PyG's own slicing
    batches = list(DataLoader(dataset, batch_size=5))
    assert [b.num_graphs for b in batches] == [5, 5, 2]
    last = batches[-1]
    assert torch.isfinite(last.y[0])
    assert torch.isnan(last.y[1])
    assert torch.isnan(last.forces[last.batch == 1]).all()
    graph = from_pyg(last)
    assert graph.n_atoms.tolist() == [len(h5.read(emt_h5, k)) for k in (10, 11)]


def test_pyg_schnet_trains_an_epoch_on_the_hdf5_dataset(emt_h5):
    torch.manual_seed(0)
    dataset = pyg.PygDataset(emt_h5, cutoff=4.0)[:11]  # the labelled ones
    full = Batch.from_data_list(list(dataset))
    edges = pyg.PeriodicInteractionGraph()
    model = SchNet(
        hidden_channels=32,
        num_filters=32,
        num_interactions=2,
        num_gaussians=20,
        cutoff=4.0,
        interaction_graph=edges,
        mean=float((full.y / full.n_atoms).mean()),  # eV per atom
        std=1.0,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

    def loss_of(batch):
        edges.data = batch
        energy = model(batch.z, batch.pos, batch.batch).view(-1)
        return torch.mean(((energy - batch.y) / batch.n_atoms) ** 2)

    with torch.no_grad():
        before = loss_of(full).item()
    losses = []
    for batch in DataLoader(dataset, batch_size=1, shuffle=True):  # one epoch
        optimizer.zero_grad()
        loss = loss_of(batch)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    with torch.no_grad():
        after = loss_of(full).item()
    assert len(losses) == 11
    assert np.isfinite(losses).all()
    assert after < 0.7 * before  # 0.11 -> 0.04 (eV/atom)²; other seeds 0.2-0.6x


def test_periodic_lengths_reach_pyg_schnet_and_forces_follow():
    atoms = emt_structures(1)[0]
    data = to_pyg(atoms_to_graph(atoms, cutoff=4.0, dtype=torch.float64))
    edges = pyg.PeriodicInteractionGraph()
    with pytest.raises(ConfigError, match=r"edges\.data = batch"):
        edges(data.pos, torch.zeros_like(data.z))
    edges.data = data
    index, lengths = edges(data.pos, torch.zeros_like(data.z))
    assert torch.equal(index, data.edge_index)
    i, j, d = neighbor_list(atoms, 4.0)
    assert data.shifts.any()  # edges to periodic images
    torch.testing.assert_close(
        lengths,
        torch.from_numpy(
            np.linalg.norm(
                atoms.positions[j] - atoms.positions[i] + d @ atoms.cell.array, axis=1
            )
        ),
    )
    # forces by autograd through the periodic lengths: no net force
    model = SchNet(
        hidden_channels=16,
        num_filters=16,
        num_interactions=1,
        num_gaussians=10,
        cutoff=4.0,
        interaction_graph=edges,
    ).double()
    pos = data.pos.clone().requires_grad_(True)
    energy = model(data.z, pos, None).sum()
    (forces,) = torch.autograd.grad(-energy, pos)
    assert torch.isfinite(forces).all()
    torch.testing.assert_close(forces.sum(dim=0), torch.zeros(3, dtype=torch.float64))
