"""Small building blocks: an MLP layer and a Gaussian radial basis."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from asegen.nn.norm import layer_norm_silu

__all__ = ["MLP", "GaussianRBF"]


class MLP(nn.Sequential):
    """``SiLU(LayerNorm(Linear(x)))``: one dense layer as ALIGNN uses it.

    Parameters
    ----------
    in_features, out_features
        Widths of input and output.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(
            nn.Linear(in_features, out_features),
            nn.LayerNorm(out_features),
            nn.SiLU(),
        )
        self.eps = self[1].eps  # TorchScript cannot read a submodule's

    def forward(self, x: Tensor) -> Tensor:
        """Return ``SiLU(LayerNorm(Linear(x)))``."""
        norm = self[1]
        return layer_norm_silu(
            self[0](x), norm.weight, norm.bias, self.eps, not self.training
        )


class GaussianRBF(nn.Module):
    """Expand a scalar in ``bins`` Gaussians evenly spaced on ``[vmin, vmax]``.

    ``phi_k(u) = exp(-gamma (u - c_k)^2)`` with centres ``c_k = vmin + k delta``
    and ``gamma = 1 / delta`` (ALIGNN's choice, not ``1 / delta^2``) unless
    ``gamma`` is given.

    Parameters
    ----------
    vmin, vmax
        First and last centre.
    bins
        Number of Gaussians (at least 2).
    gamma
        Width parameter; default ``1 / delta``.
    """

    def __init__(
        self, vmin: float, vmax: float, bins: int, *, gamma: float | None = None
    ) -> None:
        super().__init__()
        if bins < 2:
            raise ValueError(f"a radial basis needs at least 2 bins, got {bins}")
        self.register_buffer("centers", torch.linspace(vmin, vmax, bins))
        self.gamma = gamma if gamma is not None else (bins - 1) / (vmax - vmin)

    def forward(self, u: Tensor) -> Tensor:
        """Return ``(*u.shape, bins)`` basis values."""
        return torch.exp(-self.gamma * (u.unsqueeze(-1) - self.centers) ** 2)
