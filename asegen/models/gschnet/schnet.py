"""SchNet: continuous-filter convolutions over a radius graph (Schütt et al. 2018).

Every node starts from an embedding of its atomic number (the placer's
tokens have their own rows, :data:`ORIGIN` and :data:`FOCUS`). Each of the
``n_interactions`` blocks (weights not shared) computes

``m_i = sum_j W(d_ij) * (A x_j)``, ``W(d) = B ssp(C phi(d)) * f(d)``,
``x_i <- x_i + D ssp(E m_i)``

with ``phi`` Gaussians on ``[0, cutoff]`` (width = spacing), the cosine
cutoff ``f(d) = (cos(pi d / cutoff) + 1) / 2`` and the shifted softplus
``ssp(x) = ln(e^x / 2 + 1 / 2)``. A filter depends on the edge length
alone, so it is computed once per distinct length of the batch: the two
directions of a pair, and the same pair in the partial structures of one
molecule, share it (a batch of trajectory steps repeats most pairs). No
gradient reaches the positions through them: the placer needs none.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional

from asegen.nn import GaussianRBF, scatter_sum

__all__ = ["FOCUS", "ORIGIN", "SchNet", "ShiftedSoftplus", "cosine_cutoff", "mlp"]

#: Atomic numbers of the placer's two tokens (beyond every element).
ORIGIN = 121
FOCUS = 122


class ShiftedSoftplus(nn.Module):
    """``ln(e^x / 2 + 1 / 2)``: softplus shifted to pass through zero."""

    def forward(self, x: Tensor) -> Tensor:
        """Apply the activation."""
        return functional.softplus(x) - math.log(2.0)


def mlp(n_in: int, n_hidden: int, n_out: int, layers: int) -> nn.Sequential:
    """Return ``layers`` Linear layers ``n_in -> n_hidden ... -> n_out`` with ssp."""
    widths = [n_in, *([n_hidden] * (layers - 1)), n_out]
    modules: list[nn.Module] = []
    for k in range(layers):
        modules.append(nn.Linear(widths[k], widths[k + 1]))
        if k < layers - 1:
            modules.append(ShiftedSoftplus())
    return nn.Sequential(*modules)


def cosine_cutoff(d: Tensor, cutoff: float) -> Tensor:
    """Return ``(cos(pi d / cutoff) + 1) / 2`` inside the cutoff, 0 beyond."""
    f = 0.5 * (torch.cos(d * (math.pi / cutoff)) + 1.0)
    return f * (d < cutoff).to(d.dtype)


class _Interaction(nn.Module):
    def __init__(self, features: int, filters: int, n_rbf: int) -> None:
        super().__init__()
        self.into = nn.Linear(features, filters, bias=False)
        self.filter = nn.Sequential(
            nn.Linear(n_rbf, filters), ShiftedSoftplus(), nn.Linear(filters, filters)
        )
        self.out = nn.Sequential(
            nn.Linear(filters, features),
            ShiftedSoftplus(),
            nn.Linear(features, features),
        )

    def forward(
        self,
        x: Tensor,
        rbf: Tensor,
        fcut: Tensor,
        lengths: Tensor,
        centre: Tensor,
        neighbour: Tensor,
    ) -> Tensor:
        w = (self.filter(rbf) * fcut[:, None])[lengths]  # (E, filters)
        m = scatter_sum(self.into(x)[neighbour] * w, centre, x.shape[0])
        return x + self.out(m)


class SchNet(nn.Module):
    """Node features ``(N, features)`` of a graph given by edges and lengths."""

    def __init__(
        self, features: int, interactions: int, filters: int, n_rbf: int, cutoff: float
    ) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.embedding = nn.Embedding(FOCUS + 1, features, padding_idx=0)
        self.rbf = GaussianRBF(
            0.0, self.cutoff, n_rbf, gamma=0.5 * ((n_rbf - 1) / cutoff) ** 2
        )
        self.interactions = nn.ModuleList(
            _Interaction(features, filters, n_rbf) for _ in range(interactions)
        )

    def forward(self, numbers: Tensor, d: Tensor, edge_index: Tensor) -> Tensor:
        """Return the features of nodes ``numbers`` joined by edges of length ``d``."""
        x = self.embedding(numbers)
        # filters depend on the length alone: compute them once per distinct
        # length (both directions of an edge, and the same pair in the many
        # partial structures of one molecule, share it)
        unique, lengths = torch.unique(d, return_inverse=True)
        rbf = self.rbf(unique).to(x.dtype)
        fcut = cosine_cutoff(unique, self.cutoff).to(x.dtype)
        for block in self.interactions:
            x = block(x, rbf, fcut, lengths, edge_index[0], edge_index[1])
        return x
