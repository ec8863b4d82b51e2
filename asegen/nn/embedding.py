"""Sinusoidal encodings of continuous values (diffusion time, scalar properties)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["SinusoidalEmbedding"]


class SinusoidalEmbedding(nn.Module):
    """Encode a scalar as sines and cosines of geometrically spaced frequencies.

    ``x -> [sin(2 pi x / p_1), ..., sin(2 pi x / p_K), cos(2 pi x / p_1), ...,
    cos(2 pi x / p_K)]`` with ``K = features / 2`` periods ``p_k`` spaced
    geometrically from ``min_period`` to ``max_period`` (the transformer
    position encoding, Vaswani et al. 2017, on a continuous value). The
    shortest period sets the finest difference of ``x`` the encoding resolves,
    the longest the range over which it stays one-to-one. It has no weights.

    Parameters
    ----------
    features
        Number of output channels (even, at least 2).
    min_period, max_period
        Shortest and longest period, in units of ``x``.
    """

    def __init__(self, features: int, min_period: float, max_period: float) -> None:
        super().__init__()
        if features < 2 or features % 2:
            raise ValueError(
                f"a sinusoidal embedding needs an even width >= 2, got {features}"
            )
        if not 0 < min_period <= max_period:
            raise ValueError(
                "periods must satisfy 0 < min_period <= max_period, got "
                f"{min_period} and {max_period}"
            )
        self.features = features
        periods = torch.logspace(
            math.log10(min_period), math.log10(max_period), features // 2
        )
        self.register_buffer("frequencies", 2 * math.pi / periods, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """Return the ``(*x.shape, features)`` encoding of ``x``."""
        angles = x.unsqueeze(-1) * self.frequencies.to(x.dtype)  # (..., K)
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)

    def extra_repr(self) -> str:
        """Show the width in the module's repr."""
        return f"features={self.features}"
