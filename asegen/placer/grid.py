"""Where the next atom goes: sampling a position on a grid around the focus.

cG-SchNet's rule: candidate positions are the points of a cubic lattice
(spacing ``grid_spacing``) around the focus whose distance from it lies in
``[grid_distance_min, placement_cutoff]``; a point's log-probability is the
sum, over the prediction set, of each member's predicted log-probability of
the distance bin it falls in; the distribution is sharpened by the
temperature (``p^(1/T)``) and one point is drawn.

The anchor evaluates every one of the 153,058 points of the default grid for
every member. Here the points are grouped by their distance bin from the
focus, which two members (the focus token and the focus atom) see alike: their
summed log-probability ``l_f`` bounds a point's total from above, since every
other term is a log-probability (at most 0). The points with the highest
``l_f`` are evaluated first; their best total less a ``margin`` is a level
that no point with a lower ``l_f`` can reach, so only the points above it are
evaluated. The mass left out is below ``K exp(-margin / T)`` of the best
point's for ``K`` points, and ``margin = T (ln K + 14)`` keeps it under 1e-6:
the same distribution, usually from a small fraction of the points. In a
periodic cell so small that an image of the focus lies within reach of the
shell, the bound does not hold and every point is evaluated.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["ShellGrid"]

# points evaluated first, to find a total the others must come close to
_FIRST = 2048
# the left-out mass is below exp(-_TAIL) of the best point's
_TAIL = 14.0


class ShellGrid:
    """The candidate offsets around a focus, with their distance bins.

    Parameters
    ----------
    spacing
        Lattice spacing, Å.
    r_min, r_max
        The shell's inner and outer radius, Å.
    bin_centres
        Centres of the model's distance bins (evenly spaced), Å.
    """

    def __init__(
        self, spacing: float, r_min: float, r_max: float, bin_centres: Tensor
    ) -> None:
        n = math.floor(r_max / spacing)
        axis = np.arange(-n, n + 1) * spacing
        points = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(
            -1, 3
        )
        radius = np.linalg.norm(points, axis=1)
        keep = (radius >= r_min) & (radius <= r_max)
        points, radius = points[keep], radius[keep]
        centres = bin_centres.detach().cpu().double().numpy()
        step = centres[1] - centres[0]
        bins = np.clip(np.round((radius - centres[0]) / step), 0, len(centres) - 1)
        self.offsets = torch.from_numpy(points)
        self.bins = torch.from_numpy(bins.astype(np.int64))
        self.centres = torch.from_numpy(centres)
        self.r_max = float(r_max)
        self.step = float(step)

    def __len__(self) -> int:
        return int(self.offsets.shape[0])

    def _offsets(self, dtype: torch.dtype) -> Tensor:
        """Return the offsets in ``dtype`` (converted once)."""
        if self.offsets.dtype != dtype:
            self.offsets = self.offsets.to(dtype)
        return self.offsets

    def sample(
        self,
        focus: Tensor,
        references: Tensor,
        log_probs: Tensor,
        focus_rows: Tensor,
        cell: Tensor,
        pbc: Tensor,
        temperature: float,
        generator: torch.Generator,
    ) -> Tensor:
        """Draw the new atom's position (arguments as :meth:`candidates`)."""
        points, totals = self.candidates(
            focus, references, log_probs, focus_rows, cell, pbc, temperature
        )
        weights = torch.softmax(totals / temperature, dim=0)
        return points[torch.multinomial(weights, 1, generator=generator)[0]]

    def candidates(
        self,
        focus: Tensor,
        references: Tensor,
        log_probs: Tensor,
        focus_rows: Tensor,
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
        focus_rows
            ``(M,)`` boolean: members on the focus (the focus token and atom).
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
        offsets = self._offsets(dtype)
        cell = cell.to(dtype)
        inverse = torch.linalg.inv(cell) if bool(pbc.any()) else None
        if inverse is not None:  # an image of the focus within reach: no bound
            spacing = 1.0 / torch.linalg.vector_norm(inverse[:, pbc], dim=0)
            if bool((spacing < 2 * self.r_max).any()):
                focus_rows = torch.zeros_like(focus_rows)
        bound = log_probs[focus_rows].sum(0)[self.bins]  # (K,): a point's best total
        refs, other_log = references[~focus_rows], log_probs[~focus_rows]

        def totals(index: Tensor) -> Tensor:
            total = bound[index]
            if not len(refs):
                return total
            if inverse is None:  # |o + a|^2 = |o|^2 + 2 o.a + |a|^2: a matmul
                apart = focus - refs  # (M', 3)
                o = offsets[index]
                d2 = (
                    (o * o).sum(1) + 2 * (apart @ o.T) + (apart * apart).sum(1)[:, None]
                )
                d = d2.clamp_min(0).sqrt()
            else:
                frac = (focus + offsets[index] - refs[:, None]) @ inverse
                frac = frac - torch.round(frac) * pbc.to(dtype)
                d = torch.linalg.vector_norm(frac @ cell, dim=2)
            b = ((d - self.centres[0].to(dtype)) * (1 / self.step)).round_()
            b = b.clamp_(0, len(self.centres) - 1).long()
            return total + other_log.gather(1, b).sum(0)

        # the most promising points give a total that every kept point must
        # reach within the margin; then all points whose bound allows it
        first = torch.topk(bound, min(_FIRST, len(bound))).indices
        best = float(totals(first).max())
        margin = temperature * (math.log(len(self)) + _TAIL)
        index = torch.nonzero(bound >= best - margin).squeeze(1)
        return focus + offsets[index], totals(index)
