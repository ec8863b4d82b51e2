"""Where the next atom goes: sampling a position on a grid around the focus.

cG-SchNet's rule: candidate positions are the points of a cubic lattice
(spacing ``grid_spacing``) around the focus whose distance from it lies in
``[grid_distance_min, placement_cutoff]``; a point's log-probability is the
sum, over the prediction set, of each member's predicted log-probability of
the distance bin it falls in; the distribution is sharpened by the
temperature (``p^(1/T)``) and one point is drawn.

The anchor evaluates every one of the 153,058 points of the default grid for
every member. Here the points are grouped into cubic blocks (4 x 4 x 4
points). From a block's centre, every point of the block lies within the
block's half-diagonal ``h``, so its distance to a member is within ``h`` of
the centre's: the largest log-probability of the bins in that window, summed
over the members, bounds the total of every point of the block from above.
The most promising blocks are evaluated first; their best total less a
``margin`` is a level that no block with a lower bound can reach, so only the
blocks above it are evaluated point by point. The mass left out is below
``K exp(-margin / T)`` of the best point's for ``K`` points, and ``margin =
T (ln K + 14)`` keeps it under 1e-6: the same distribution, from a small
fraction of the points. Along periodic axes the bound needs the minimum
image to be the nearest image, which holds in cells with right angles
between periodic and other axes; in any other periodic cell every point is
evaluated.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional

__all__ = ["ShellGrid"]

# blocks evaluated first, to find a total the others must come close to
_FIRST_BLOCKS = 16
# the left-out mass is below exp(-_TAIL) of the best point's
_TAIL = 14.0


class ShellGrid:
    """The candidate offsets around a focus, grouped into cubic blocks.

    Parameters
    ----------
    spacing
        Lattice spacing, Å.
    r_min, r_max
        The shell's inner and outer radius, Å.
    bin_centres
        Centres of the model's distance bins (evenly spaced), Å.
    block
        Points per block edge.
    """

    def __init__(
        self,
        spacing: float,
        r_min: float,
        r_max: float,
        bin_centres: Tensor,
        block: int = 4,
    ) -> None:
        n = math.floor(r_max / spacing)
        axis = np.arange(-n, n + 1) * spacing
        points = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1)
        points = points.reshape(-1, 3)
        radius = np.linalg.norm(points, axis=1)
        points = points[(radius >= r_min) & (radius <= r_max)]
        size = block * spacing
        ids = np.floor(points / size + 0.5).astype(np.int64)
        blocks, owner = np.unique(ids, axis=0, return_inverse=True)
        order = np.argsort(owner.reshape(-1), kind="stable")
        self.offsets = torch.from_numpy(points[order])
        self.owner = torch.from_numpy(owner.reshape(-1)[order])
        self.block_centres = torch.from_numpy(blocks * size)
        centres = bin_centres.detach().cpu().double().numpy()
        self.centres = torch.from_numpy(centres)
        self.step = float(centres[1] - centres[0])
        # bins a point's distance may fall in, either side of its block centre's
        half_diagonal = 0.5 * size * math.sqrt(3.0)
        self.window = math.ceil(half_diagonal / self.step) + 1

    def __len__(self) -> int:
        return int(self.offsets.shape[0])

    def _as(self, dtype: torch.dtype) -> None:
        """Hold the float tensors in ``dtype`` (converted once)."""
        if self.offsets.dtype != dtype:
            self.offsets = self.offsets.to(dtype)
            self.block_centres = self.block_centres.to(dtype)
            self.centres = self.centres.to(dtype)

    def sample(
        self,
        focus: Tensor,
        references: Tensor,
        log_probs: Tensor,
        cell: Tensor,
        pbc: Tensor,
        temperature: float,
        generator: torch.Generator,
    ) -> Tensor:
        """Draw the new atom's position (arguments as :meth:`candidates`)."""
        points, totals = self.candidates(
            focus, references, log_probs, cell, pbc, temperature
        )
        weights = torch.softmax(totals.double() / temperature, dim=0)
        u = torch.rand(1, generator=generator, dtype=torch.float64)
        cumulative = torch.cumsum(weights, 0)
        choice = torch.searchsorted(cumulative, u * cumulative[-1]).clamp_max(
            len(points) - 1
        )
        return points[choice[0]]

    def candidates(
        self,
        focus: Tensor,
        references: Tensor,
        log_probs: Tensor,
        cell: Tensor,
        pbc: Tensor,
        temperature: float,
    ) -> tuple[Tensor, Tensor]:
        """Return the points that carry the distribution, and their log-probabilities.

        Parameters
        ----------
        focus
            ``(3,)`` the focus position.
        references
            ``(M, 3)`` where each member sits.
        log_probs
            ``(M, n_bins)`` each member's distance log-probabilities.
        cell, pbc
            ``(3, 3)`` and ``(3,)``: distances are minimum-image ones along
            periodic axes.
        temperature
            ``T`` of ``p^(1/T)``: it sets how far below the best point a
            point may be left out (see the module docs).

        Returns
        -------
        points
            ``(P, 3)`` candidate positions.
        totals
            ``(P,)`` the summed log-probabilities (not tempered).
        """
        dtype = log_probs.dtype
        self._as(dtype)
        focus, references, cell = focus.to(dtype), references.to(dtype), cell.to(dtype)
        periodic = bool(pbc.any())
        inverse = torch.linalg.inv(cell) if periodic else None
        apart = focus - references  # (M, 3)

        def distances(offsets: Tensor) -> Tensor:
            """``(M, P)`` distances from the members to ``focus + offsets``."""
            if inverse is None:  # |o + a|^2 = |o|^2 + 2 o.a + |a|^2: a matmul
                d2 = (offsets * offsets).sum(1) + 2 * (apart @ offsets.T)
                return (d2 + (apart * apart).sum(1)[:, None]).clamp_min(0).sqrt()
            frac = (offsets[None] + apart[:, None]) @ inverse
            frac = frac - torch.round(frac) * pbc.to(dtype)
            return torch.linalg.vector_norm(frac @ cell, dim=2)

        def bins(d: Tensor) -> Tensor:
            b = ((d - self.centres[0]) * (1 / self.step)).round_()
            return b.clamp_(0, len(self.centres) - 1).long()

        def totals(index: Tensor) -> Tensor:
            return log_probs.gather(1, bins(distances(self.offsets[index]))).sum(0)

        if periodic and not _right_angled(cell, pbc):
            every = torch.arange(len(self))
            return focus + self.offsets, totals(every)
        # an upper bound of every point's total, per block
        window = 2 * self.window + 1
        widest = functional.max_pool1d(
            log_probs[:, None], window, stride=1, padding=self.window
        )[:, 0]
        bound = widest.gather(1, bins(distances(self.block_centres))).sum(0)
        first = torch.topk(bound, min(_FIRST_BLOCKS, len(bound))).indices
        chosen = torch.zeros(len(bound), dtype=torch.bool)
        chosen[first] = True
        best = float(totals(torch.nonzero(chosen[self.owner]).squeeze(1)).max())
        margin = temperature * (math.log(len(self)) + _TAIL)
        index = torch.nonzero((bound >= best - margin)[self.owner]).squeeze(1)
        return focus + self.offsets[index], totals(index)


def _right_angled(cell: Tensor, pbc: Tensor) -> bool:
    """Whether each periodic axis is at right angles to the other axes."""
    gram = cell @ cell.T
    for axis in torch.nonzero(pbc).squeeze(1).tolist():
        others = [k for k in range(3) if k != axis]
        scale = gram[axis, axis].sqrt() * gram.diagonal()[others].sqrt()
        if bool((gram[axis, others].abs() > 1e-9 * (scale + 1)).any()):
            return False
    return True
