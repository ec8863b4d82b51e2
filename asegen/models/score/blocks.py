"""PaiNN message and update blocks and the equivariant output heads.

Scalar features ``s`` are ``(N, F)``, vector features ``v`` are ``(N, 3, F)``
(one 3-vector per channel); a block's linear maps act on the channel axis
only, so rotating every input vector rotates every output vector. The blocks
follow Schütt, Unke & Gastegger, "Equivariant message passing for the
prediction of tensorial properties and molecular spectra", ICML 2021
(equations 7-9 and the gated equivariant block of figure 3).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional

from asegen.nn import scatter_mean, scatter_sum

__all__ = ["CellHead", "GatedEquivariant", "Message", "Update", "vector_norm"]

#: Added under the square root of vector norms, so their gradient is finite at 0.
NORM_EPS = 1e-8


def vector_norm(v: Tensor) -> Tensor:
    """Return the ``(N, C)`` norms of ``(N, 3, C)`` vector channels (smooth at 0)."""
    return torch.sqrt((v * v).sum(dim=1) + NORM_EPS)


def _mlp(width_in: int, hidden: int, width_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(width_in, hidden), nn.SiLU(), nn.Linear(hidden, width_out)
    )


class Message(nn.Module):
    """PaiNN message: neighbours' scalars and vectors, filtered by the edge.

    With ``x_ij = phi(s_j) * W_ij`` split into ``(x_s, x_vv, x_vs)``:
    ``ds_i = sum_j x_s`` and ``dv_i = sum_j (v_j x_vv + r_ij x_vs)``, where
    ``r_ij`` is the unit vector from atom ``i`` to neighbour ``j`` and the
    filter ``W_ij = f(|r_ij|) (A rbf(|r_ij|) + b)`` a linear map of the radial
    basis times the envelope ``f``.

    Parameters
    ----------
    features
        Width ``F`` of the features.
    radial_basis
        Width ``B`` of the radial basis.
    """

    def __init__(self, features: int, radial_basis: int) -> None:
        super().__init__()
        self.features = features
        self.phi = _mlp(features, features, 3 * features)
        # acts on [rbf, 1] * envelope: its last column is the bias b
        self.filter = nn.Linear(radial_basis + 1, 3 * features, bias=False)

    def forward(
        self,
        s: Tensor,
        v: Tensor,
        basis: Tensor,
        unit: Tensor,
        centre: Tensor,
        neighbour: Tensor,
        scale: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Return ``s + ds`` and ``v + dv``.

        Parameters
        ----------
        s, v
            ``(N, F)`` scalar and ``(N, 3, F)`` vector features.
        basis
            ``(E, B + 1)`` radial basis of the edge lengths with a column of
            ones, times the envelope.
        unit
            ``(E, 3)`` unit edge vectors.
        centre, neighbour
            ``(E,)`` atoms ``i`` (receiving) and ``j`` (sending) of each edge.
        scale
            ``(N,)`` factor of each atom's summed messages (``1 / count`` for
            the mean over neighbours); ``None``: the plain sum.
        """
        n, f = s.shape
        x = self.phi(s).index_select(0, neighbour) * self.filter(basis)  # (E, 3F)
        x_s, x_vv, x_vs = x.split(f, dim=1)  # (E, F) each
        dv = unit[:, :, None] * x_vs[:, None, :]  # (E, 3, F)
        # in place (safe for autograd: addcmul does not need its input's values)
        dv = dv.addcmul_(v.index_select(0, neighbour), x_vv[:, None, :])
        # a contiguous copy first: summing strided rows is several times slower
        ds = scatter_sum(x_s.contiguous(), centre, n)  # (N, F)
        dv = scatter_sum(dv, centre, n)  # (N, 3, F)
        if scale is not None:
            ds, dv = ds * scale[:, None], dv * scale[:, None, None]
        return s + ds, v + dv


class Update(nn.Module):
    """PaiNN update: mix each atom's scalars and vectors with each other.

    ``U v`` and ``V v`` are channel mixes of the vectors; with
    ``a = MLP([s, |V v|])`` split into ``(a_vv, a_sv, a_ss)``:
    ``dv = a_vv U v`` and ``ds = a_sv <U v, V v> + a_ss``.

    Parameters
    ----------
    features
        Width ``F`` of the features.
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.features = features
        self.mix = nn.Linear(features, 2 * features, bias=False)
        self.mlp = _mlp(2 * features, features, 3 * features)

    def forward(self, s: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``s + ds`` and ``v + dv`` (shapes as in :class:`Message`)."""
        f = self.features
        uv, vv = self.mix(v).split(f, dim=2)  # (N, 3, F) each
        a = self.mlp(torch.cat([s, vector_norm(vv)], dim=1))  # (N, 3F)
        a_vv, a_sv, a_ss = a.split(f, dim=1)
        ds = a_sv * (uv * vv).sum(dim=1) + a_ss  # (N, F)
        return s + ds, v + a_vv[:, None, :] * uv


class GatedEquivariant(nn.Module):
    """Gated equivariant block: ``(s, v)`` to fewer scalar and vector channels.

    ``W1 v`` and ``W2 v`` are channel mixes of the vectors; with
    ``(s', g) = MLP([s, |W2 v|])``: the new vectors are ``g * W1 v`` and the
    new scalars ``s'`` (through SiLU unless it is the last block).

    Parameters
    ----------
    features
        Input width of scalars and vectors.
    hidden
        Hidden width of the MLP.
    scalars, vectors
        Output widths (``scalars`` may be 0).
    activation
        Apply SiLU to the output scalars.
    """

    def __init__(
        self,
        features: int,
        hidden: int,
        scalars: int,
        vectors: int,
        *,
        activation: bool = True,
    ) -> None:
        super().__init__()
        self.sizes = [features, vectors]
        self.outputs = [scalars, vectors]
        self.activation = activation
        self.mix = nn.Linear(features, features + vectors, bias=False)
        self.mlp = _mlp(2 * features, hidden, scalars + vectors)

    def forward(self, s: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(N, scalars)`` scalars and ``(N, 3, vectors)`` vectors."""
        w2v, w1v = self.mix(v).split(self.sizes, dim=2)
        out = self.mlp(torch.cat([s, vector_norm(w2v)], dim=1))
        s_out, gate = out.split(self.outputs, dim=1)
        if self.activation:
            s_out = functional.silu(s_out)
        return s_out, gate[:, None, :] * w1v


class CellHead(nn.Module):
    """Symmetric ``(S, 3, 3)`` output that rotates as ``M -> R M R^T``.

    ``M = (1/n) sum_edges w_ij r_ij r_ij^T + lambda I``: each edge's unit
    vector outer product, weighted by an invariant ``w_ij`` of both atoms'
    scalars and the edge length (times the envelope, so edges leave smoothly),
    summed over the structure's edges and divided by its atom count ``n``;
    ``lambda`` is the structure's mean of an invariant per-atom value. The
    last layers of ``w`` and ``lambda`` start at zero, so the output does.

    Parameters
    ----------
    features
        Width of the scalar features.
    radial_basis
        Width of the radial basis of the edge lengths.
    """

    def __init__(self, features: int, radial_basis: int) -> None:
        super().__init__()
        self.features = features
        self.nodes = nn.Linear(features, 2 * features)
        self.radial = nn.Linear(radial_basis, features, bias=False)
        self.edge_out = nn.Linear(features, 1)
        self.trace = _mlp(features, features, 1)
        # start at zero, the mean of the noise it predicts: a sum over ~50-100
        # neighbours would otherwise start far from unit scale
        for layer in (self.edge_out, self.trace[2]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(
        self,
        s: Tensor,
        rbf: Tensor,
        envelope: Tensor,
        unit: Tensor,
        edge_index: Tensor,
        batch: Tensor,
        n_atoms: Tensor,
    ) -> Tensor:
        """Return the ``(S, 3, 3)`` symmetric output of every structure.

        Parameters
        ----------
        s
            ``(N, F)`` scalar features.
        rbf, envelope
            ``(E, B)`` radial basis and ``(E,)`` envelope of the edge lengths.
        unit
            ``(E, 3)`` unit edge vectors.
        edge_index
            ``(2, E)`` centre and neighbour of each edge.
        batch, n_atoms
            ``(N,)`` structure of each atom and ``(S,)`` atoms per structure.
        """
        n_structures = n_atoms.shape[0]
        centre, neighbour = edge_index[0], edge_index[1]
        a, b = self.nodes(s).split(self.features, dim=1)  # (N, F) each
        h = functional.silu(
            a.index_select(0, centre) + b.index_select(0, neighbour) + self.radial(rbf)
        )  # (E, F)
        weight = self.edge_out(h)[:, 0] * envelope  # (E,)
        outer = unit[:, :, None] * unit[:, None, :] * weight[:, None, None]  # (E, 3, 3)
        edges_of = batch.index_select(0, centre)  # (E,)
        summed = scatter_sum(outer, edges_of, n_structures)  # (S, 3, 3)
        summed = summed / n_atoms.clamp_min(1).to(s.dtype)[:, None, None]
        trace = scatter_mean(self.trace(s), batch, n_structures)  # (S, 1)
        eye = torch.eye(3, dtype=s.dtype, device=s.device)
        return summed + trace[:, :, None] * eye
