"""Sums and means over groups (atoms of a structure, edges into an atom)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["scatter_mean", "scatter_sum"]


def scatter_sum(values: Tensor, index: Tensor, size: int) -> Tensor:
    """Sum the rows of ``values`` (``(M, ...)``) into ``size`` groups by ``index``."""
    shape = list(values.shape)
    shape[0] = size
    return values.new_zeros(shape).index_add_(0, index, values)


def scatter_mean(values: Tensor, index: Tensor, size: int) -> Tensor:
    """Average rows of ``values`` per group; empty groups give zero."""
    total = scatter_sum(values, index, size)
    count = torch.bincount(index, minlength=size).clamp_min(1).to(values.dtype)
    shape = [1] * values.dim()
    shape[0] = size
    return total / count.view(shape)
