"""Smooth cutoff envelopes and the ZBL screened nuclear repulsion."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["polynomial_envelope", "zbl_energy"]


def polynomial_envelope(d: Tensor, cutoff: float, exponent: int = 5) -> Tensor:
    """Smooth step from 1 at ``d = 0`` to 0 at ``d = cutoff`` (zero beyond).

    ``1 + c1 t^p + c2 t^(p+1) + c3 t^(p+2)`` with ``t = d / cutoff``,
    ``c1 = -(p+1)(p+2)/2``, ``c2 = p(p+2)``, ``c3 = -p(p+1)/2`` (DimeNet):
    value, first and second derivative vanish at the cutoff.
    """
    p = exponent
    t = d / cutoff
    value = (
        1.0
        - (p + 1) * (p + 2) / 2 * t**p
        + p * (p + 2) * t ** (p + 1)
        - p * (p + 1) / 2 * t ** (p + 2)
    )
    return torch.where(t < 1.0, value, torch.zeros_like(value))


def zbl_energy(d: Tensor, z_i: Tensor, z_j: Tensor, cutoff: float) -> Tensor:
    """ZBL screened nuclear repulsion of each pair, switched off at ``cutoff``.

    Parameters
    ----------
    d
        ``(E,)`` pair distances, Å.
    z_i, z_j
        ``(E,)`` atomic numbers of the two atoms.
    cutoff
        Distance where the switching function ``1 - 15t^4 + 24t^5 - 10t^6``
        (``t = d / cutoff``) reaches zero.

    Returns
    -------
    torch.Tensor
        ``(E,)`` pair energies in eV (zero beyond ``cutoff``).
    """
    zi = z_i.to(d.dtype)
    zj = z_j.to(d.dtype)
    d = d.clamp_min(1e-6)
    a = 0.46850 / (zi**0.23 + zj**0.23)
    x = d / a
    screening = (
        0.18175 * torch.exp(-3.19980 * x)
        + 0.50986 * torch.exp(-0.94229 * x)
        + 0.28022 * torch.exp(-0.40290 * x)
        + 0.02817 * torch.exp(-0.20162 * x)
    )
    t = d / cutoff
    switch = 1.0 - 15.0 * t**4 + 24.0 * t**5 - 10.0 * t**6
    energy = 14.399645 * zi * zj * screening / d * switch  # e^2/(4 pi eps0), eV Å
    return torch.where(t < 1.0, energy, torch.zeros_like(energy))
