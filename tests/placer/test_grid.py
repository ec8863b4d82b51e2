"""The position grid: pruning by block bounds keeps the distribution."""

from __future__ import annotations

import math

import pytest
import torch

from asegen.placer.grid import ShellGrid

CENTRES = torch.linspace(0.0, 6.7, 202, dtype=torch.float64)


def dense_totals(
    grid: ShellGrid,
    focus: torch.Tensor,
    references: torch.Tensor,
    log_probs: torch.Tensor,
    cell: torch.Tensor,
    pbc: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every grid point and its total, computed the plain way."""
    points = focus + grid.offsets.to(log_probs.dtype)
    vectors = points[None] - references[:, None]
    if bool(pbc.any()):
        frac = vectors @ torch.linalg.inv(cell)
        vectors = (frac - torch.round(frac) * pbc.to(frac.dtype)) @ cell
    d = torch.linalg.vector_norm(vectors, dim=2)
    b = ((d - CENTRES[0]) / (CENTRES[1] - CENTRES[0])).round().clamp(0, 201)
    return points, log_probs.gather(1, b.long()).sum(0)


def peaked(references: torch.Tensor, seed: int) -> torch.Tensor:
    """Distance distributions peaked between 0.8 and 4.8 Å, as trained ones are."""
    generator = torch.Generator().manual_seed(seed)
    peaks = torch.rand(len(references), 1, dtype=torch.float64, generator=generator)
    return torch.log_softmax(-((CENTRES - (peaks * 4 + 0.8)) ** 2) / 0.02, dim=1)


@pytest.mark.parametrize("cell_kind", ["none", "square", "skewed"])
@pytest.mark.parametrize("temperature", [0.1, 1.0])
def test_pruned_candidates_carry_the_dense_distribution(
    cell_kind: str, temperature: float
) -> None:
    grid = ShellGrid(0.1, 0.7, 1.7, CENTRES)
    focus = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64)
    generator = torch.Generator().manual_seed(1)
    others = focus + torch.randn(5, 3, dtype=torch.float64, generator=generator) * 1.5
    zero = torch.zeros(1, 3, dtype=torch.float64)
    references = torch.cat([focus[None], zero, focus[None], others])
    log_probs = peaked(references, 2)
    cell = torch.diag(torch.tensor([4.0, 4.5, 20.0], dtype=torch.float64))
    if cell_kind == "skewed":  # no bound: every point counts
        cell[1, 0] = 2.0
    pbc = torch.tensor([cell_kind != "none"] * 2 + [False])
    points, totals = grid.candidates(
        focus, references, log_probs, cell, pbc, temperature
    )
    all_points, all_totals = dense_totals(grid, focus, references, log_probs, cell, pbc)
    # every kept point has its exact log-probability
    index = torch.cdist(points, all_points).argmin(1)
    assert torch.allclose(totals, all_totals[index])
    # what is left out weighs less than 1e-6 of the tempered distribution
    weights = torch.softmax(all_totals / temperature, dim=0)
    kept = torch.zeros(len(all_points), dtype=torch.bool)
    kept[index] = True
    assert float(weights[~kept].sum()) < 1e-6
    if cell_kind == "skewed":
        assert len(points) == len(all_points)
    else:  # the bound leaves most points out
        assert len(points) < len(all_points) / 3


def test_samples_follow_the_tempered_distribution() -> None:
    grid = ShellGrid(0.1, 0.7, 1.7, CENTRES)
    focus = torch.zeros(3, dtype=torch.float64)
    references = torch.stack([focus, focus + 5.0, focus])
    # the focus rows prefer 1.0 Å or 1.5 Å equally; the far member is indifferent
    log_f = torch.full((202,), -30.0, dtype=torch.float64)
    log_f[30] = log_f[45] = math.log(0.5)
    flat = torch.full((202,), -math.log(202), dtype=torch.float64)
    log_probs = torch.stack([log_f, flat, log_f])
    generator = torch.Generator().manual_seed(0)
    cell, pbc = torch.zeros(3, 3, dtype=torch.float64), torch.zeros(3, dtype=torch.bool)
    radii = torch.stack(
        [
            torch.linalg.vector_norm(
                grid.sample(focus, references, log_probs, cell, pbc, 1.0, generator)
            )
            for _ in range(400)
        ]
    )
    near = (radii - 1.0).abs() < 0.02
    far = (radii - 1.5).abs() < 0.02
    assert bool((near | far).all())
    # equal per bin, so the shell with more grid points wins in proportion
    step = float(CENTRES[1])
    radius = torch.linalg.vector_norm(grid.offsets, dim=1)
    bins = torch.round(radius / step)
    expected = int((bins == 45).sum()) / int(((bins == 30) | (bins == 45)).sum())
    assert abs(float(far.float().mean()) - expected) < 0.08
