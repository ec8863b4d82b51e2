"""Sums and means over groups (atoms of a structure, edges into an atom)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from asegen.nn.norm import LEAN_MIN_ELEMENTS

__all__ = ["scatter_mean", "scatter_sum"]


def scatter_sum(values: Tensor, index: Tensor, size: int) -> Tensor:
    """Sum the rows of ``values`` (``(M, ...)``) into ``size`` groups by ``index``.

    Differentiable to any order. Unlike a bare ``index_add``, whose backward
    keeps ``values`` alive only to read its shape, the autograd graph holds
    just ``index``: for a network that sums messages over every edge this
    halves the memory of a force evaluation. ``values`` of fewer than
    :data:`~asegen.nn.norm.LEAN_MIN_ELEMENTS` elements take the bare
    ``index_add``, which is faster per call.
    """
    if torch.jit.is_scripting():
        return _index_add(values, index, size)
    return _scatter_sum_autograd(values, index, size)


def _index_add(values: Tensor, index: Tensor, size: int) -> Tensor:
    shape = list(values.shape)
    shape[0] = size
    return values.new_zeros(shape).index_add_(0, index, values)


@torch.jit.unused
def _scatter_sum_autograd(values: Tensor, index: Tensor, size: int) -> Tensor:
    if values.numel() < LEAN_MIN_ELEMENTS:  # here: TorchScript reads no global int
        return _index_add(values, index, size)
    return _ScatterSum.apply(values, index, size)


class _ScatterSum(torch.autograd.Function):
    """``index_add`` into zeros whose backward is a gather (saves the index only)."""

    @staticmethod
    def forward(ctx: Any, values: Tensor, index: Tensor, size: int) -> Tensor:
        ctx.save_for_backward(index)
        return _index_add(values, index, size)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (index,) = ctx.saved_tensors
        return grad.index_select(0, index), None, None


def scatter_mean(values: Tensor, index: Tensor, size: int) -> Tensor:
    """Average rows of ``values`` per group; empty groups give zero."""
    total = scatter_sum(values, index, size)
    count = torch.bincount(index, minlength=size).clamp_min(1).to(values.dtype)
    shape = [1] * values.dim()
    shape[0] = size
    return total / count.view(shape)
