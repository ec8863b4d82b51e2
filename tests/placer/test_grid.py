"""The position grid: pruning by the focus bound keeps the distribution."""

from __future__ import annotations

import math

import pytest
import torch

from asegen.placer.grid import ShellGrid


def dense_totals(
    grid: ShellGrid,
    focus: torch.Tensor,
    references: torch.Tensor,
    log_probs: torch.Tensor,
    cell: torch.Tensor,
    pbc: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    points = focus + grid.offsets.to(log_probs.dtype)
    vectors = points[None] - references[:, None]
    if bool(pbc.any()):
        frac = vectors @ torch.linalg.inv(cell)
        vectors = (frac - torch.round(frac) * pbc.to(frac.dtype)) @ cell
    d = torch.linalg.vector_norm(vectors, dim=2)
    b = ((d - grid.centres[0]) / grid.step).round().clamp(0, len(grid.centres) - 1)
    return points, log_probs.gather(1, b.long()).sum(0)


@pytest.mark.parametrize("periodic", [None, 4.0, 3.0])
@pytest.mark.parametrize("temperature", [0.1, 1.0])
def test_pruned_candidates_carry_the_dense_distribution(
    periodic: float | None, temperature: float
) -> None:
    torch.manual_seed(0)
    centres = torch.linspace(0.0, 6.7, 202, dtype=torch.float64)
    grid = ShellGrid(0.1, 0.7, 1.7, centres)
    focus = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64)
    others = focus + torch.randn(5, 3, dtype=torch.float64) * 1.5
    references = torch.cat(
        [focus[None], torch.zeros(1, 3, dtype=torch.float64), focus[None], others]
    )
    # peaked distributions, as trained ones are
    peaks = torch.rand(len(references), 1, dtype=torch.float64) * 4 + 0.8
    log_probs = torch.log_softmax(-((centres - peaks) ** 2) / 0.02, dim=1)
    on_focus = torch.zeros(len(references), dtype=torch.bool)
    on_focus[[0, 2]] = True
    a = periodic or 10.0  # 3.0: an image of the focus within the shell's reach
    cell = torch.diag(torch.tensor([a, a + 0.5, 20.0], dtype=torch.float64))
    pbc = torch.tensor([periodic is not None, periodic is not None, False])
    points, totals = grid.candidates(
        focus, references, log_probs, on_focus, cell, pbc, temperature
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
    if periodic == 3.0:  # no bound: every point counts
        assert len(points) == len(all_points)
    else:
        assert len(points) < len(all_points)


def test_samples_follow_the_tempered_distribution() -> None:
    centres = torch.linspace(0.0, 6.7, 202, dtype=torch.float64)
    grid = ShellGrid(0.1, 0.7, 1.7, centres)
    focus = torch.zeros(3, dtype=torch.float64)
    references = torch.stack([focus, focus + 5.0, focus])
    on_focus = torch.tensor([True, False, True])
    # the focus rows prefer 1.0 Å or 1.5 Å equally
    log_f = torch.full((202,), -30.0, dtype=torch.float64)
    log_f[30] = log_f[45] = math.log(0.5)
    log_probs = torch.stack([log_f, torch.zeros(202, dtype=torch.float64), log_f])
    generator = torch.Generator().manual_seed(0)
    cell, pbc = torch.zeros(3, 3, dtype=torch.float64), torch.zeros(3, dtype=torch.bool)
    radii = torch.stack(
        [
            torch.linalg.vector_norm(
                grid.sample(
                    focus, references, log_probs, on_focus, cell, pbc, 1.0, generator
                )
            )
            for _ in range(400)
        ]
    )
    near = (radii - 1.0).abs() < 0.02
    far = (radii - 1.5).abs() < 0.02
    assert bool((near | far).all())
    # equal per bin, so the shell with more grid points wins in proportion
    expected = int((grid.bins == 45).sum()) / int(
        ((grid.bins == 30) | (grid.bins == 45)).sum()
    )
    assert abs(float(far.float().mean()) - expected) < 0.08
