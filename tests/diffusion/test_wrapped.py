"""Wrapped and reflected normals: scores against finite differences and brute force."""

import itertools
import math

import numpy as np
import pytest
import torch

from asegen.diffusion.wrapped import (
    lattice_gaussian_log_density,
    lattice_gaussian_score,
    reflected_gaussian_log_density,
    reflected_gaussian_score,
)

F64 = torch.float64

TRICLINIC = torch.tensor(
    [[4.0, 0.0, 0.0], [1.3, 3.6, 0.0], [0.7, -0.9, 6.5]], dtype=F64
)
SLAB = TRICLINIC[:2]  # periodic in the plane of the first two vectors
SIGMAS = [0.05, 0.4, 1.0, 2.2, 2.6, 4.0, 9.0]  # both series, and the switch


def cases(lattice, n=7, seed=0):
    generator = torch.Generator().manual_seed(seed)
    d = 6 * torch.rand(n, 3, generator=generator, dtype=F64) - 3
    lattices = lattice.expand(n, *lattice.shape).clone()
    return d, lattices


def brute_force_score(d, lattice, sigma, reach=9):
    p = lattice.shape[0]
    k = torch.tensor(list(itertools.product(range(-reach, reach + 1), repeat=p)))
    shifted = d + k.to(d.dtype) @ lattice  # (K, 3)
    w = torch.softmax(-(shifted**2).sum(1) / (2 * sigma**2), 0)
    return -(w[:, None] * shifted).sum(0) / sigma**2


@pytest.mark.parametrize(
    "lattice", [TRICLINIC, SLAB, TRICLINIC[:1]], ids=["3d", "2d", "1d"]
)
@pytest.mark.parametrize("sigma", SIGMAS)
def test_lattice_score_is_the_gradient_of_the_log_density(lattice, sigma):
    d, lattices = cases(lattice)
    s = torch.full((len(d),), sigma, dtype=F64)
    score = lattice_gaussian_score(d, lattices, s)
    h = 1e-5
    for axis in range(3):
        step = torch.zeros(3, dtype=F64)
        step[axis] = h
        up = lattice_gaussian_log_density(d + step, lattices, s)
        down = lattice_gaussian_log_density(d - step, lattices, s)
        np.testing.assert_allclose(score[:, axis], (up - down) / (2 * h), atol=1e-6)


@pytest.mark.parametrize("sigma", [0.05, 0.4, 1.0, 1.8])
def test_lattice_score_equals_a_brute_force_image_sum(sigma):
    d, lattices = cases(TRICLINIC)
    score = lattice_gaussian_score(d, lattices, torch.full((len(d),), sigma, dtype=F64))
    for k in range(len(d)):
        expected = brute_force_score(d[k], TRICLINIC, sigma)
        np.testing.assert_allclose(score[k], expected, atol=1e-9)


def test_both_series_agree_where_they_switch():
    d, lattices = cases(TRICLINIC)
    spacing = 1 / torch.linalg.inv(TRICLINIC).T.norm(dim=1)
    switch = 0.75 * float(spacing.min())
    below = torch.full((len(d),), switch * (1 - 1e-9), dtype=F64)
    above = torch.full((len(d),), switch * (1 + 1e-9), dtype=F64)
    np.testing.assert_allclose(
        lattice_gaussian_log_density(d, lattices, below),
        lattice_gaussian_log_density(d, lattices, above),
        atol=1e-7,
    )
    np.testing.assert_allclose(
        lattice_gaussian_score(d, lattices, below),
        lattice_gaussian_score(d, lattices, above),
        atol=1e-7,
    )


def test_wide_noise_is_uniform_on_the_cell():
    d, lattices = cases(TRICLINIC)
    score = lattice_gaussian_score(d, lattices, torch.full((len(d),), 30.0, dtype=F64))
    assert score.abs().max() < 1e-12
    volume = float(torch.linalg.det(TRICLINIC).abs())
    log_p = lattice_gaussian_log_density(
        d, lattices, torch.full((len(d),), 30.0, dtype=F64)
    )
    np.testing.assert_allclose(log_p, -math.log(volume), atol=1e-10)


def test_the_score_ignores_which_image_the_displacement_names():
    d, lattices = cases(TRICLINIC)
    s = torch.full((len(d),), 0.7, dtype=F64)
    moved = d + torch.tensor([2.0, -1.0, 1.0], dtype=F64) @ TRICLINIC
    np.testing.assert_allclose(
        lattice_gaussian_score(d, lattices, s),
        lattice_gaussian_score(moved, lattices, s),
        atol=1e-10,
    )


def test_the_normal_component_of_a_slab_is_a_plain_gaussian():
    d = torch.tensor([[0.0, 0.0, 1.5]], dtype=F64)  # normal to the plane
    lattice = torch.tensor([[[3.0, 0.0, 0.0], [0.0, 3.0, 0.0]]], dtype=F64)
    score = lattice_gaussian_score(d, lattice, torch.tensor([0.5], dtype=F64))
    np.testing.assert_allclose(score[0], [0.0, 0.0, -1.5 / 0.25], atol=1e-12)


LO, HI = 9.5, 13.0


def reflected_cases(n=9, seed=1):
    generator = torch.Generator().manual_seed(seed)
    z = LO + (HI - LO) * torch.rand(n, generator=generator, dtype=F64)
    z0 = LO + (HI - LO) * torch.rand(n, generator=generator, dtype=F64)
    return z, z0, torch.full_like(z, LO), torch.full_like(z, HI)


@pytest.mark.parametrize("sigma", [0.05, 0.5, 2.0, 2.7, 6.0])
def test_reflected_score_is_the_gradient_of_its_log_density(sigma):
    z, z0, lo, hi = reflected_cases()
    s = torch.full_like(z, sigma)
    h = 1e-6
    up = reflected_gaussian_log_density(z + h, z0, lo, hi, s)
    down = reflected_gaussian_log_density(z - h, z0, lo, hi, s)
    np.testing.assert_allclose(
        reflected_gaussian_score(z, z0, lo, hi, s), (up - down) / (2 * h), atol=1e-6
    )


@pytest.mark.parametrize("sigma", [0.3, 1.5, 2.7, 6.0])
def test_reflected_density_integrates_to_one_in_the_window(sigma):
    grid = torch.linspace(LO, HI, 20001, dtype=F64)
    z0 = torch.full_like(grid, 10.1)
    density = reflected_gaussian_log_density(
        grid, z0, torch.full_like(grid, LO), torch.full_like(grid, HI),
        torch.full_like(grid, sigma),
    ).exp()  # fmt: skip
    assert float(torch.trapezoid(density, grid)) == pytest.approx(1.0, abs=1e-6)


def test_reflected_score_vanishes_at_the_walls():
    z0 = torch.tensor([10.0, 12.0], dtype=F64)
    lo, hi = torch.full_like(z0, LO), torch.full_like(z0, HI)
    for wall in (LO, HI):
        z = torch.full_like(z0, wall)
        score = reflected_gaussian_score(z, z0, lo, hi, torch.full_like(z0, 0.8))
        np.testing.assert_allclose(score, 0.0, atol=1e-9)
