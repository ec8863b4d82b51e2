"""Gaussians on a periodic lattice and in a slab: densities and exact scores.

A Gaussian displacement ``d`` of an atom in a periodic cell is only known up
to lattice vectors, so its density is the *wrapped* normal

``p(d) = sum_k N(d + k L; 0, sigma^2 I)``  (``k`` over the periodic axes),

and the training target of a periodic position noiser is its score
``grad log p``, not ``-d / sigma^2``. Two exact series give it:

- in real space, a softmax-weighted sum over lattice images
  ``-sum_k w_k (d + k L) / sigma^2`` with ``w_k`` proportional to
  ``exp(-|d + k L|^2 / 2 sigma^2)``: few images while ``sigma`` is small
  against the lattice-plane spacings;
- in reciprocal space (Poisson summation)
  ``p = (1/A) sum_G exp(-sigma^2 |G|^2 / 2) cos(G . d)``: few terms once
  ``sigma`` is comparable to the spacings.

Each atom uses the series that converges for its ``sigma``; both are
truncated where the neglected terms are below ``exp(-8)`` of the kept ones
(real space: images within ``4 sigma`` beyond the minimum image;
reciprocal space: ``sigma |G| <= 6``). The component of ``d`` outside the
span of the periodic axes is an ordinary Gaussian.

In a slab, the height along the surface normal is confined to a window
``[lo, hi]`` by reflecting walls; its transition density is the normal
reflected by the method of images (or its cosine series), with its own
exact score (:func:`reflected_gaussian_score`).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor

__all__ = [
    "lattice_gaussian_log_density",
    "lattice_gaussian_score",
    "reflected_gaussian_log_density",
    "reflected_gaussian_score",
]

_SWITCH = 0.75  # real space while sigma < _SWITCH x the smallest plane spacing


def _images(counts: list[int], like: Tensor) -> Tensor:
    """All integer vectors ``k`` with ``|k_j| <= counts[j]``, ``(K, p)``."""
    ranges = [range(-n, n + 1) for n in counts]
    grid = list(itertools.product(*ranges))
    return torch.tensor(grid, dtype=like.dtype, device=like.device)


def _split(d: Tensor, lattice: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Return fractional coordinates, normal part of ``d`` and reciprocal vectors.

    ``lattice`` is ``(N, p, 3)``; the fractional coordinates ``(N, p)`` are
    reduced to ``[-1/2, 1/2)`` (the minimum image along each axis).
    """
    metric = lattice @ lattice.transpose(1, 2)  # (N, p, p)
    reciprocal = torch.linalg.solve(metric, lattice)  # (N, p, 3): a_i . b_j = delta
    fractional = torch.einsum("nx,npx->np", d, reciprocal)  # (N, p)
    in_span = torch.einsum("np,npx->nx", fractional, lattice)  # (N, 3)
    return fractional - torch.round(fractional), d - in_span, reciprocal


def _real_terms(
    fractional: Tensor, lattice: Tensor, sigma: Tensor, spacing: Tensor
) -> tuple[Tensor, Tensor]:
    """Images ``d + k L`` ``(N, K, 3)`` and their log-weights ``(N, K)``."""
    counts = torch.ceil(4.0 * sigma[:, None] / spacing).amax(dim=0) + 1  # (p,)
    k = _images([int(n) for n in counts], fractional)  # (K, p)
    shifted = (fractional[:, None, :] + k[None]) @ lattice  # (N, K, 3)
    return shifted, -(shifted**2).sum(-1) / (2 * sigma[:, None] ** 2)


def _reciprocal_terms(
    fractional: Tensor, reciprocal: Tensor, sigma: Tensor, spacing: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Waves ``G`` ``(N, H, 3)``, weights ``exp(-sigma^2 G^2/2)`` and phases ``G.d``."""
    counts = torch.ceil(6.0 * spacing / (2 * math.pi * sigma[:, None])).amax(dim=0)
    h = _images([int(n) for n in counts], fractional)  # (H, p)
    waves = 2 * math.pi * h[None] @ reciprocal  # (N, H, 3)
    phase = 2 * math.pi * (h[None] * fractional[:, None, :]).sum(-1)  # (N, H)
    weight = torch.exp(-0.5 * sigma[:, None] ** 2 * (waves**2).sum(-1))
    return waves, weight, phase


def _lattice_series(
    d: Tensor, lattice: Tensor, sigma: Tensor, *, log_density: bool
) -> Tensor:
    """Score ``(N, 3)`` or log-density ``(N,)`` of the wrapped normal."""
    sigma = sigma.to(d.dtype)
    p = lattice.shape[1]
    if p == 0:
        normal, fractional = d, None
    else:
        fractional, normal, reciprocal = _split(d, lattice)
    if log_density:
        out = -(normal**2).sum(1) / (2 * sigma**2)
        out = out - (3 - p) / 2 * torch.log(2 * math.pi * sigma**2)
    else:
        out = -normal / sigma[:, None] ** 2
    if fractional is None:
        return out
    spacing = 1.0 / reciprocal.norm(dim=2)  # (N, p) plane spacings
    real = sigma < _SWITCH * spacing.min(dim=1).values
    if real.any():
        s = sigma[real]
        shifted, logits = _real_terms(fractional[real], lattice[real], s, spacing[real])
        if log_density:
            part = torch.logsumexp(logits, 1) - p / 2 * torch.log(2 * math.pi * s**2)
        else:
            weights = torch.softmax(logits, dim=1)[:, :, None]
            part = -(weights * shifted).sum(1) / s[:, None] ** 2
        out[real] = out[real] + part
    if (~real).any():
        s = sigma[~real]
        waves, weight, phase = _reciprocal_terms(
            fractional[~real], reciprocal[~real], s, spacing[~real]
        )
        density = (weight * torch.cos(phase)).sum(1)
        if log_density:
            lat = lattice[~real]
            area = torch.linalg.det(lat @ lat.transpose(1, 2)).sqrt()
            part = torch.log(density / area)
        else:
            gradient = -((weight * torch.sin(phase))[:, :, None] * waves).sum(1)
            part = gradient / density[:, None]
        out[~real] = out[~real] + part
    return out


def lattice_gaussian_score(d: Tensor, lattice: Tensor, sigma: Tensor) -> Tensor:
    """Return the score ``grad_d log p(d)`` of the wrapped normal, ``(N, 3)``.

    Parameters
    ----------
    d
        ``(N, 3)`` displacements ``x_t - x_0`` (any image), Å.
    lattice
        ``(N, p, 3)`` the ``p`` periodic lattice vectors (rows) of each
        atom's cell, ``p`` in 0..3.
    sigma
        ``(N,)`` standard deviations, Å.
    """
    return _lattice_series(d, lattice, sigma, log_density=False)


def lattice_gaussian_log_density(d: Tensor, lattice: Tensor, sigma: Tensor) -> Tensor:
    """Return ``log p(d)`` of the wrapped normal, ``(N,)``.

    Normalised so that it integrates to one over one lattice cell times the
    space normal to the periodic axes; arguments as
    :func:`lattice_gaussian_score`.
    """
    return _lattice_series(d, lattice, sigma, log_density=True)


def _reflected_series(
    z: Tensor,
    z0: Tensor,
    lo: Tensor,
    hi: Tensor,
    sigma: Tensor,
    *,
    log_density: bool,
) -> Tensor:
    """Score or log-density of the normal reflected at ``lo`` and ``hi``."""
    sigma = sigma.to(z.dtype)
    width = hi - lo
    u, u0 = z - lo, z0 - lo
    real = sigma < _SWITCH * width
    out = torch.empty_like(z)
    if real.any():
        w, s = width[real], sigma[real]
        m = int(torch.ceil(4.0 * s / (2 * w)).max()) + 1
        k = torch.arange(-m, m + 1, dtype=z.dtype, device=z.device)
        offsets = 2 * k[None] * w[:, None]  # (N, K)
        a, b = u[real][:, None], u0[real][:, None]
        shifted = torch.cat([a - b + offsets, a + b + offsets], 1)  # (N, 2K)
        logits = -(shifted**2) / (2 * s[:, None] ** 2)
        if log_density:
            out[real] = torch.logsumexp(logits, 1) - 0.5 * torch.log(2 * math.pi * s**2)
        else:
            weights = torch.softmax(logits, dim=1)
            out[real] = -(weights * shifted).sum(1) / s**2
    if (~real).any():
        w, s = width[~real], sigma[~real]
        n_max = int(torch.ceil(6.0 * w / (math.pi * s)).max())
        n = torch.arange(1, n_max + 1, dtype=z.dtype, device=z.device)
        wave = math.pi * n[None] / w[:, None]  # (N, M)
        weight = torch.exp(-0.5 * s[:, None] ** 2 * wave**2)
        phase = wave * u[~real][:, None]
        partner = weight * torch.cos(wave * u0[~real][:, None])
        density = 1 + 2 * (partner * torch.cos(phase)).sum(1)
        if log_density:
            out[~real] = torch.log(density / w)
        else:
            out[~real] = -2 * (partner * wave * torch.sin(phase)).sum(1) / density
    return out


def reflected_gaussian_score(
    z: Tensor, z0: Tensor, lo: Tensor, hi: Tensor, sigma: Tensor
) -> Tensor:
    """Return ``d/dz log p(z | z0)``, ``(N,)``, of a normal reflected at two walls.

    The density is the transition density of Brownian motion between
    reflecting walls: images of ``z0`` at ``z0 + 2 k W`` and
    ``2 lo - z0 + 2 k W`` (``W = hi - lo``), or the cosine series
    ``(1/W)[1 + 2 sum_n exp(-sigma^2 (n pi/W)^2 / 2) cos(n pi u/W)
    cos(n pi u0/W)]`` with ``u = z - lo``. All arguments are ``(N,)``.
    """
    return _reflected_series(z, z0, lo, hi, sigma, log_density=False)


def reflected_gaussian_log_density(
    z: Tensor, z0: Tensor, lo: Tensor, hi: Tensor, sigma: Tensor
) -> Tensor:
    """Return ``log p(z | z0)`` of the reflected normal on ``[lo, hi]``, ``(N,)``."""
    return _reflected_series(z, z0, lo, hi, sigma, log_density=True)
