"""The lattice noiser: symmetric cells, fractional coordinates, exact reverse."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk

from asegen.diffusion.cell import CellNoiser, symmetric_cell
from asegen.errors import ConfigError
from asegen.graph import atoms_to_graph

F64 = torch.float64


def batch(images):
    return atoms_to_graph(images, cutoff=2.0, dtype=F64)


def test_the_symmetric_cell_is_the_same_lattice_unrotated():
    cell = torch.tensor(
        [[[4.0, 0.0, 0.0], [1.2, 3.7, 0.0], [0.4, -0.8, 5.1]]], dtype=F64
    )
    rotation = torch.linalg.qr(
        torch.randn(3, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    )[0]
    for turned in (cell, cell @ rotation.T):
        sym = symmetric_cell(turned)
        np.testing.assert_allclose(sym, sym.transpose(1, 2), atol=1e-12)
        np.testing.assert_allclose(
            sym @ sym.transpose(1, 2), turned @ turned.transpose(1, 2), atol=1e-10
        )
        np.testing.assert_allclose(sym, symmetric_cell(cell), atol=1e-10)


def test_atoms_keep_their_fractional_coordinates():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.rattle(0.1, seed=1)
    graph = batch([atoms])
    noiser = CellNoiser(density=0.085)
    noised = noiser.corrupt(
        graph, torch.tensor([0.6], dtype=F64), torch.Generator().manual_seed(0)
    )
    before = atoms.get_scaled_positions(wrap=False)
    after = noised.positions @ torch.linalg.inv(noised.cell[0])
    np.testing.assert_allclose(after, before, atol=1e-10)
    assert noised.structure_labels["cell_target"].shape == (1, 3, 3)


def test_noised_training_cells_never_come_out_flat():
    # an elongated cell (1 x 1 x 4 fcc, 16 atoms): its smallest eigenvalue is
    # about half the limit edge, and plain noise at mid times made some of its
    # noised copies flat or inverted (the neighbour search then never ended)
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((1, 1, 4))
    graph = batch([atoms])
    noiser = CellNoiser(density=len(atoms) / atoms.get_volume())
    generator = torch.Generator().manual_seed(0)
    edge = (len(atoms) / noiser.density) ** (1 / 3)
    floor = 0.5 * min(0.4 * edge, 3.6)
    lowest = []
    for t in np.linspace(0.05, 1.0, 400):
        time = torch.tensor([t], dtype=F64)
        noised = noiser.corrupt(graph, time, generator)
        cell = noised.cell[0]
        lowest.append(float(torch.linalg.eigvalsh(0.5 * (cell + cell.T))[0]))
        # the label is still the noise that made the cell
        mean, scale = noiser._limit(graph)
        clean = symmetric_cell(graph.cell)
        drift = mean + noiser.sde.mean(time) * (clean - mean)
        std = scale * noiser.sde.std(time)
        target = noised.structure_labels["cell_target"]
        np.testing.assert_allclose(noised.cell, drift + std * target, atol=1e-10)
    assert min(lowest) >= floor - 1e-9
    assert min(lowest) < 0.6 * edge  # the noise still reaches toward the floor


def test_prior_is_the_marginal_at_t_1():
    noiser = CellNoiser(density=0.05)
    images = [
        Atoms("Cu8", positions=np.zeros((8, 3)), cell=np.eye(3) * 5, pbc=True)
    ] * 2000
    graph = batch(images)
    generator = torch.Generator().manual_seed(4)
    forward = noiser.corrupt(graph, torch.ones(2000, dtype=F64), generator).cell
    prior = noiser.prior(graph, generator).cell
    edge, spread = (8 / 0.05) ** (1 / 3), 0.5 * 8 ** (1 / 3)
    for sample in (forward, prior):
        assert float(sample[:, 0, 0].mean()) == pytest.approx(edge, abs=0.1)
        assert float(sample[:, 0, 1].std()) == pytest.approx(spread, rel=0.08)
        assert float(sample[:, 1, 1].std()) == pytest.approx(spread, rel=0.08)


def test_reverse_with_the_exact_score_recovers_two_cells():
    noiser = CellNoiser(density=0.06)
    sites = [
        torch.diag(torch.tensor(v, dtype=F64))
        for v in ([4.0, 4.0, 4.0], [3.5, 4.5, 5.0])
    ]
    sites[1][0, 1] = sites[1][1, 0] = 0.4
    weights = (0.25, 0.75)
    images = [
        Atoms("Cu4", positions=np.zeros((4, 3)), cell=np.eye(3) * 4, pbc=True)
    ] * 400
    graph = batch(images)
    mean, scale = noiser._limit(graph)
    upper = torch.triu_indices(3, 3)

    def oracle(g, t):
        time = torch.tensor(t, dtype=F64)
        coefficient, std = noiser.sde.mean(time), scale * noiser.sde.std(time)
        logs, eps = [], []
        for site, weight in zip(sites, weights, strict=True):
            centre = mean + coefficient * (site - mean)
            z = (g.cell - centre) / std[:, None, None]
            entries = z[:, upper[0], upper[1]]
            logs.append(-0.5 * (entries**2).sum(1) + np.log(weight))
            eps.append(z)
        r = torch.softmax(torch.stack(logs), 0)
        return (r[:, :, None, None] * torch.stack(eps)).sum(0)

    generator = torch.Generator().manual_seed(0)
    g = noiser.prior(graph, generator)
    steps = 500
    grid = torch.linspace(1.0, 1e-3, steps + 1, dtype=F64)
    for k in range(steps):
        t, dt = float(grid[k]), float(grid[k] - grid[k + 1])
        g = noiser.step(g, oracle(g, t), t, dt, generator, last=k == steps - 1)
        if k < steps - 1:
            g = noiser.correct(g, oracle(g, t - dt), t - dt, generator, dt)
    distances = torch.stack([(g.cell - s).flatten(1).norm(dim=1) for s in sites])
    assert float(distances.min(0).values.max()) < 0.05
    assert float((distances.argmin(0) == 1).double().mean()) == pytest.approx(
        0.75, abs=0.07
    )


def test_mistakes_are_one_line():
    noiser = CellNoiser(density=0.08)
    slab = bulk("Cu", cubic=True)
    slab.pbc = (True, True, False)
    with pytest.raises(ConfigError, match="periodic along all three axes"):
        noiser.prior(batch([slab]), torch.Generator())
    fixed = batch([bulk("Cu", cubic=True)])
    fixed = fixed.replace(fixed=torch.tensor([True, False, False, False]))
    with pytest.raises(ConfigError, match="would move fixed atoms"):
        noiser.corrupt(fixed, torch.tensor([0.5], dtype=F64), torch.Generator())
    with pytest.raises(ConfigError, match="positive density"):
        CellNoiser(density=0.0)
    again = CellNoiser.from_hparams(noiser.hparams())
    assert again.hparams() == noiser.hparams()
