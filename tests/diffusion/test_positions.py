"""Position noisers: forward marginals, targets, and exact reverse on toy distributions.

The reverse tests drive the noisers with the *true* score of a toy data
distribution (a mixture of two sites for one atom), so they check the
forward process, the reverse steps and the score conversion together: the
samples must land on the two sites with the mixture's weights.
"""

import math

import numpy as np
import pytest
import torch
from ase import Atoms

from asegen.diffusion.positions import (
    CONFINEMENT,
    GasPositions,
    PeriodicPositions,
    SurfacePositions,
    fold,
    position_noiser,
    positions_from_hparams,
)
from asegen.diffusion.sde import VESDE, VPSDE
from asegen.diffusion.wrapped import (
    lattice_gaussian_log_density,
    lattice_gaussian_score,
    reflected_gaussian_log_density,
    reflected_gaussian_score,
)
from asegen.errors import ConfigError
from asegen.graph import atoms_to_graph

F64 = torch.float64
CELL = np.array([[4.0, 0.0, 0.0], [0.8, 3.8, 0.0], [0.3, -0.5, 4.6]])


def batch(images, **labels):
    graph = atoms_to_graph(images, cutoff=2.0, dtype=F64)
    return graph.with_labels(structure=labels) if labels else graph


def one_atom_cells(n, pbc=True, cell=CELL):
    return [
        Atoms("Cu", positions=[[0.0, 0.0, 0.0]], cell=cell, pbc=pbc) for _ in range(n)
    ]


def reverse(noiser, graph, oracle, steps=400, t_min=1e-3, corrector=True, seed=0):
    """Integrate from the prior with the exact score given by ``oracle(graph, t)``."""
    generator = torch.Generator().manual_seed(seed)
    graph = noiser.prior(graph, generator)
    grid = torch.linspace(1.0, t_min, steps + 1, dtype=F64)
    for k in range(steps):
        t, dt = float(grid[k]), float(grid[k] - grid[k + 1])
        last = k == steps - 1
        graph = noiser.step(graph, oracle(graph, t), t, dt, generator, last=last)
        if corrector and not last:
            graph = noiser.correct(graph, oracle(graph, t - dt), t - dt, generator, dt)
    return graph


def mixture_eps(noiser, log_density, score, sites, weights, graph, t):
    """The standard noise an ideal network predicts for a mixture of sites."""
    std = noiser.sde.std(torch.tensor(t, dtype=F64))
    mean = noiser.sde.mean(torch.tensor(t, dtype=F64))
    logs, scores = [], []
    for site, weight in zip(sites, weights, strict=True):
        centre = mean * site
        logs.append(log_density(graph, centre, std) + math.log(weight))
        scores.append(score(graph, centre, std))
    responsibility = torch.softmax(torch.stack(logs), dim=0)  # (J, N)
    total = (responsibility[:, :, None] * torch.stack(scores)).sum(0)
    return -std * total


SITES = [
    torch.tensor([1.0, 1.0, 1.0], dtype=F64),
    torch.tensor([3.0, 2.5, 3.5], dtype=F64),
]


def nearest_site(positions, cell, sites):
    lattice = torch.tensor(cell, dtype=F64)
    distances = []
    for site in sites:
        d = positions - site
        f = d @ torch.linalg.inv(lattice)
        d = (f - torch.round(f)) @ lattice
        distances.append(d.norm(dim=1))
    distances = torch.stack(distances)
    return distances.argmin(0), distances.min(0).values


def test_periodic_reverse_recovers_a_two_site_mixture():
    noiser = PeriodicPositions(VESDE(0.01, 6.0))
    graph = batch(one_atom_cells(300))
    lattice = graph.cell[graph.batch]
    n = len(graph.positions)
    sigma = lambda std: torch.full((n,), float(std), dtype=F64)  # noqa: E731

    def oracle(g, t):
        log_density = lambda g, c, s: lattice_gaussian_log_density(  # noqa: E731
            g.positions - c, lattice, sigma(s)
        )
        score = lambda g, c, s: lattice_gaussian_score(  # noqa: E731
            g.positions - c, lattice, sigma(s)
        )
        return mixture_eps(noiser, log_density, score, SITES, (0.3, 0.7), g, t)

    out = reverse(noiser, graph, oracle)
    which, distance = nearest_site(out.positions, CELL, SITES)
    assert float(distance.max()) < 0.05
    assert float(which.double().mean()) == pytest.approx(0.7, abs=0.08)
    fractional = out.positions @ torch.linalg.inv(torch.tensor(CELL, dtype=F64))
    assert bool(((fractional >= 0) & (fractional < 1)).all())  # wrapped into the cell


@pytest.mark.parametrize("sde", [VESDE(0.01, 5.0), VPSDE(scale=3.0)], ids=["ve", "vp"])
def test_gas_reverse_around_a_fixed_atom_recovers_a_two_site_mixture(sde):
    noiser = GasPositions(sde)
    images = []
    for _ in range(300):  # a fixed atom at (2, 2, 2) and one mobile atom
        images.append(Atoms("CuO", positions=[[2.0, 2.0, 2.0], [0.0, 0.0, 0.0]]))
    graph = batch(images)
    graph = graph.replace(fixed=torch.arange(len(graph.positions)) % 2 == 0)
    anchor = torch.tensor([2.0, 2.0, 2.0], dtype=F64)
    sites = [
        anchor + torch.tensor([1.2, 0, 0], dtype=F64),
        anchor - torch.tensor([0, 0, 1.5], dtype=F64),
    ]

    def oracle(g, t):
        def log_density(g, c, s):  # c is mean * site; relative to the anchor
            centre = anchor + (c - noiser.sde.mean(torch.tensor(t, dtype=F64)) * anchor)
            return -((g.positions - centre) ** 2).sum(1) / (2 * s**2)

        def score(g, c, s):
            centre = anchor + (c - noiser.sde.mean(torch.tensor(t, dtype=F64)) * anchor)
            return -(g.positions - centre) / s**2

        eps = mixture_eps(noiser, log_density, score, sites, (0.4, 0.6), g, t)
        return eps * (~g.fixed)[:, None]

    out = reverse(noiser, graph, oracle)
    assert torch.equal(out.positions[out.fixed], graph.positions[graph.fixed])
    moved = out.positions[~out.fixed]
    distances = torch.stack([(moved - s).norm(dim=1) for s in sites])
    spread = float(noiser.sde.std(torch.tensor(1e-3, dtype=F64)))  # left at t_min
    assert float(distances.min(0).values.max()) < 0.02 + 5 * spread
    assert float((distances.argmin(0) == 1).double().mean()) == pytest.approx(
        0.6, abs=0.08
    )


def test_surface_reverse_stays_in_the_window_and_recovers_the_sites():
    noiser = SurfacePositions(VESDE(0.01, 6.0))
    cell = np.diag([4.0, 4.0, 20.0])
    window = torch.tensor([[9.5, 13.0]] * 300, dtype=F64)
    images = one_atom_cells(300, pbc=(True, True, False), cell=cell)
    graph = batch(images, **{CONFINEMENT: window})
    sites = [
        torch.tensor([1.0, 1.0, 10.0], dtype=F64),
        torch.tensor([3.0, 2.0, 12.5], dtype=F64),
    ]
    plane = graph.cell[graph.batch][:, :2]
    n = len(graph.positions)
    lo, hi = torch.full((n,), 9.5, dtype=F64), torch.full((n,), 13.0, dtype=F64)
    heights = []

    def parts(g, c):
        d = g.positions - c
        d_plane = d.clone()
        d_plane[:, 2] = 0
        return d_plane, g.positions[:, 2], c[2].expand(n)

    def log_density(g, c, s):
        d_plane, z, z0 = parts(g, c)
        sig = torch.full((n,), float(s), dtype=F64)
        return lattice_gaussian_log_density(d_plane, plane, sig) + (
            reflected_gaussian_log_density(z, z0, lo, hi, sig)
        )

    def score(g, c, s):
        d_plane, z, z0 = parts(g, c)
        sig = torch.full((n,), float(s), dtype=F64)
        total = lattice_gaussian_score(d_plane, plane, sig)
        total[:, 2] = reflected_gaussian_score(z, z0, lo, hi, sig)
        return total

    def oracle(g, t):
        heights.append(g.positions[:, 2].clone())
        return mixture_eps(noiser, log_density, score, sites, (0.5, 0.5), g, t)

    out = reverse(noiser, graph, oracle)
    every = torch.cat([*heights, out.positions[:, 2]])
    assert float(every.min()) >= 9.5
    assert float(every.max()) <= 13.0
    which, distance = nearest_site(out.positions, cell, sites)
    assert float(distance.max()) < 0.05
    assert float(which.double().mean()) == pytest.approx(0.5, abs=0.08)


def test_the_target_is_the_drawn_noise_while_it_is_small():
    noiser = PeriodicPositions(VESDE(0.01, 6.0))
    images = [Atoms("Cu2", positions=[[0, 0, 0], [1.8, 1.8, 0]], cell=CELL, pbc=True)]
    graph = batch(images)
    t = torch.tensor([0.2], dtype=F64)
    std = noiser.sde.std(t)
    noised = noiser.corrupt(graph, t, torch.Generator().manual_seed(3))
    d = noised.positions - graph.positions
    f = d @ torch.linalg.inv(torch.tensor(CELL, dtype=F64))
    d = (f - torch.round(f)) @ torch.tensor(CELL, dtype=F64)
    np.testing.assert_allclose(
        noised.atom_labels["positions_target"], d / std, atol=1e-8
    )


def test_fixed_atoms_are_never_noised_or_moved():
    noiser = PeriodicPositions()
    graph = batch([Atoms("Cu3", positions=np.eye(3), cell=CELL, pbc=True)])
    graph = graph.replace(fixed=torch.tensor([True, False, True]))
    generator = torch.Generator().manual_seed(0)
    noised = noiser.corrupt(graph, torch.tensor([0.9], dtype=F64), generator)
    assert torch.equal(noised.positions[graph.fixed], graph.positions[graph.fixed])
    assert torch.equal(
        noised.atom_labels["positions_target"][graph.fixed],
        torch.zeros(2, 3, dtype=F64),
    )
    prior = noiser.prior(graph, generator)
    assert torch.equal(prior.positions[graph.fixed], graph.positions[graph.fixed])
    output = torch.ones(3, 3, dtype=F64)
    stepped = noiser.step(prior, output, 0.5, 0.01, generator, last=False)
    corrected = noiser.correct(stepped, output, 0.49, generator, 0.01)
    assert torch.equal(corrected.positions[graph.fixed], graph.positions[graph.fixed])
    loss_all = noiser.loss(output, noised)
    changed = output.clone()
    changed[graph.fixed] = 100.0
    assert float(noiser.loss(changed, noised)) == float(loss_all)


def test_the_prior_is_the_marginal_at_t_1():
    noiser = PeriodicPositions(VESDE(0.01, 6.0))
    graph = batch(one_atom_cells(4000))
    generator = torch.Generator().manual_seed(1)
    forward = noiser.corrupt(graph, torch.ones(4000, dtype=F64), generator).positions
    prior = noiser.prior(graph, generator).positions
    inverse = torch.linalg.inv(torch.tensor(CELL, dtype=F64))
    for sample in (forward, prior):
        f = sample @ inverse
        counts = torch.histc(f[:, 0], bins=4, min=0, max=1)
        assert float((counts / 1000 - 1).abs().max()) < 0.12  # uniform


def test_gas_noise_and_score_keep_the_centre():
    noiser = GasPositions(VESDE(0.01, 3.0))
    images = [Atoms("H2O", positions=[[0, 0, 0], [0.9, 0, 0], [0, 0.9, 0.2]])] * 3
    graph = batch(images)
    noised = noiser.corrupt(
        graph,
        torch.tensor([0.5, 0.7, 0.9], dtype=F64),
        torch.Generator().manual_seed(2),
    )
    for k in range(3):
        rows = noised.batch == k
        np.testing.assert_allclose(noised.positions[rows].mean(0), 0.0, atol=1e-12)
        np.testing.assert_allclose(
            noised.atom_labels["positions_target"][rows].mean(0), 0.0, atol=1e-12
        )
    score = noiser.score(noised, torch.randn(9, 3, dtype=F64), 0.5)
    for k in range(3):
        np.testing.assert_allclose(score[noised.batch == k].mean(0), 0.0, atol=1e-12)


def test_fold_reflects_into_the_window():
    heights = torch.tensor([9.0, 9.5, 11.0, 13.0, 13.4, 17.1, -2.0], dtype=F64)
    lo, hi = torch.full_like(heights, 9.5), torch.full_like(heights, 13.0)
    np.testing.assert_allclose(
        fold(heights, lo, hi), [10.0, 9.5, 11.0, 13.0, 12.6, 10.1, 12.0], atol=1e-12
    )


def test_names_settings_and_mistakes():
    assert isinstance(position_noiser("gas"), GasPositions)
    noiser = position_noiser("surface", VESDE(0.02, 4.0), snr=0.3)
    again = positions_from_hparams(noiser.hparams())
    assert type(again) is SurfacePositions
    assert again.hparams() == noiser.hparams()
    with pytest.raises(ConfigError, match="unknown position noiser 'bulk'"):
        position_noiser("bulk")
    with pytest.raises(ConfigError, match="periodic position noiser needs the VE SDE"):
        PeriodicPositions(VPSDE())
    surface = SurfacePositions()
    graph = batch(
        one_atom_cells(1, pbc=(True, True, False), cell=np.diag([4.0, 4, 20]))
    )
    with pytest.raises(ConfigError, match="needs a confinement window"):
        surface.prior(graph, torch.Generator())
    graph = graph.with_labels(
        structure={CONFINEMENT: torch.tensor([[9.5, 13.0]], dtype=F64)}
    )
    with pytest.raises(
        ConfigError, match=r"mobile atom 0 lies at height 0\.000 Å, outside"
    ):
        surface.corrupt(graph, torch.tensor([0.5], dtype=F64), torch.Generator())
