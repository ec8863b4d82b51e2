"""Units and tensor conventions, written down once.

asegen works in ASE units everywhere: eV, Å, eV/Å, and stress in eV/Å³ with
ASE's sign (``stress = (1/V) dE/dstrain``, positive under tension) and Voigt
order ``xx yy zz yz xz xy``. Cells are rows of lattice vectors, as in ASE.
"""

from __future__ import annotations

import torch
from ase.units import GPa
from torch import Tensor

from asegen._units import UNITS

__all__ = ["EV_PER_A3_IN_GPA", "UNITS", "full_to_voigt", "voigt_to_full"]

#: One eV/Å³ expressed in GPa (about 160.2177).
EV_PER_A3_IN_GPA: float = 1.0 / GPa

_VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def voigt_to_full(stress: Tensor) -> Tensor:
    """Turn ``(..., 6)`` Voigt stress into ``(..., 3, 3)``; pass 3x3 through."""
    if stress.shape[-2:] == (3, 3):
        return stress
    xx, yy, zz, yz, xz, xy = stress.unbind(-1)
    rows = [
        torch.stack([xx, xy, xz], -1),
        torch.stack([xy, yy, yz], -1),
        torch.stack([xz, yz, zz], -1),
    ]
    return torch.stack(rows, -2)


def full_to_voigt(stress: Tensor) -> Tensor:
    """Turn ``(..., 3, 3)`` stress into Voigt ``(..., 6)``, averaging off-diagonals."""
    sym = 0.5 * (stress + stress.transpose(-1, -2))
    return torch.stack([sym[..., a, b] for a, b in _VOIGT], -1)
