"""LayerNorm followed by SiLU, with a backward pass that keeps less memory."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn import functional

__all__ = ["LEAN_MIN_ELEMENTS", "layer_norm_silu"]

#: Tensors of fewer elements (4 MiB in float32) take the plain ops in
#: :func:`layer_norm_silu` and :func:`asegen.nn.scatter_sum`: there the memory
#: saved is small (at most 4 MiB per call), and recomputing, and the custom
#: autograd functions, cost more than that is worth (4-12 % of an ALIGNN
#: evaluation of 8-32 atoms).
LEAN_MIN_ELEMENTS = 2**20


def layer_norm_silu(
    u: Tensor, weight: Tensor, bias: Tensor, eps: float, recompute: bool = True
) -> Tensor:
    """Return ``silu(layer_norm(u))`` over the last dimension.

    The same values and derivatives (to any order) as the two modules in a
    row. With ``recompute`` the autograd graph keeps only ``u`` and the row
    statistics: the normalised values are recomputed in the backward pass
    instead of being stored, one ``u``-sized tensor less per call. Without
    it, or for ``u`` of fewer than :data:`LEAN_MIN_ELEMENTS` elements, the
    plain ops run, which is faster when the backward pass is itself
    differentiated (training on forces), where recomputing saves nothing.
    """
    if torch.jit.is_scripting() or not recompute:
        return _reference(u, weight, bias, eps)
    return _layer_norm_silu_autograd(u, weight, bias, eps)


def _reference(u: Tensor, weight: Tensor, bias: Tensor, eps: float) -> Tensor:
    return functional.silu(functional.layer_norm(u, (u.shape[-1],), weight, bias, eps))


@torch.jit.unused
def _layer_norm_silu_autograd(
    u: Tensor, weight: Tensor, bias: Tensor, eps: float
) -> Tensor:
    if u.numel() < LEAN_MIN_ELEMENTS:  # here: TorchScript reads no global int
        return _reference(u, weight, bias, eps)
    return _LayerNormSiLU.apply(u, weight, bias, eps)


class _LayerNormSiLU(torch.autograd.Function):
    """Store ``u``, mean and 1/std; recompute the normalised values when needed."""

    @staticmethod
    def forward(
        ctx: Any, u: Tensor, weight: Tensor, bias: Tensor, eps: float
    ) -> Tensor:
        z, mean, rstd = torch.native_layer_norm(u, (u.shape[-1],), weight, bias, eps)
        ctx.save_for_backward(u, weight, bias, mean, rstd)
        ctx.eps = eps
        return functional.silu(z)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        u, weight, bias, mean, rstd = ctx.saved_tensors
        shape = (u.shape[-1],)
        # recomputed through autograd-aware ops, so a double backward sees
        # the dependence of mean and 1/std on u
        z = torch.native_layer_norm(u, shape, weight, bias, ctx.eps)[0]
        if (
            torch.is_grad_enabled()
        ):  # create_graph: aten's silu_backward has no derivative
            s = torch.sigmoid(z)
            grad_z = grad * s * (1 + z * (1 - s))
        else:
            grad_z = torch.ops.aten.silu_backward(grad, z)
        grad_u, grad_weight, grad_bias = torch.ops.aten.native_layer_norm_backward(
            grad_z, u, shape, mean, rstd, weight, bias, list(ctx.needs_input_grad[:3])
        )
        return grad_u, grad_weight, grad_bias, None
