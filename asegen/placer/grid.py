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
other term is a log-probability (at most 0). Bins are visited from the highest
``l_f`` down, and the visit stops once ``l_f`` falls ``margin`` below the best
total found; the mass left out is then below ``K exp(-margin / T)`` of the best
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

# points evaluated together while visiting bins (a chunk of work, not a limit)
_CHUNK = 4096
# the left-out mass is below exp(-_TAIL) of the best point's
_TAIL = 14.0


class ShellGrid:
    """The candidate offsets around a focus, grouped by distance bin.

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
        order = np.argsort(bins, kind="stable")
        self.offsets = torch.from_numpy(points[order])
        self.bins = torch.from_numpy(bins[order].astype(np.int64))
        used, counts = np.unique(bins[order].astype(np.int64), return_counts=True)
        self.shell_bins = torch.from_numpy(used)
        self.shell_start = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)]))
        self.centres = torch.from_numpy(centres)
        self.r_max = float(r_max)
        self.step = float(step)

    def __len__(self) -> int:
        return int(self.offsets.shape[0])

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
        offsets = self.offsets.to(dtype)
        inverse = torch.linalg.inv(cell) if bool(pbc.any()) else None
        if inverse is not None:  # an image of the focus within reach: no bound
            spacing = 1.0 / torch.linalg.vector_norm(inverse[:, pbc], dim=0)
            if bool((spacing < 2 * self.r_max).any()):
                focus_rows = torch.zeros_like(focus_rows)
        focus_log = log_probs[focus_rows].sum(0)[self.shell_bins]  # (shells,)
        others = ~focus_rows
        refs = references[others]
        other_log = log_probs[others]
        margin = temperature * (math.log(len(self)) + _TAIL)
        visit = torch.argsort(focus_log, descending=True)
        best = -math.inf
        kept_points, kept_totals = [], []
        k = 0
        while k < len(visit):
            if float(focus_log[visit[k]]) < best - margin:
                break
            chunk, size = [], 0
            while k < len(visit) and size < _CHUNK:
                shell = int(visit[k])
                start, stop = (
                    int(self.shell_start[shell]),
                    int(self.shell_start[shell + 1]),
                )
                chunk.append(torch.arange(start, stop))
                size += stop - start
                k += 1
            index = torch.cat(chunk)
            points = focus + offsets[index]
            total = log_probs[focus_rows].sum(0)[self.bins[index]]
            if len(refs):
                vectors = points[None] - refs[:, None]  # (M', P, 3)
                if inverse is not None:
                    frac = vectors @ inverse
                    frac = frac - torch.round(frac) * pbc.to(dtype)
                    vectors = frac @ cell
                d = torch.linalg.vector_norm(vectors, dim=2)
                b = (
                    ((d - self.centres[0]) / self.step)
                    .round()
                    .clamp(0, len(self.centres) - 1)
                    .long()
                )
                total = total + other_log.gather(1, b).sum(0)
            best = max(best, float(total.max()))
            kept_points.append(points)
            kept_totals.append(total)
        return torch.cat(kept_points), torch.cat(kept_totals)
