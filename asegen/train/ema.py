"""An exponential moving average of a model's weights."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

__all__ = ["WeightAverage"]


class WeightAverage:
    """Shadow weights ``w_avg <- decay * w_avg + (1 - decay) * w`` per step.

    Floating-point buffers (fitted statistics, not trained) are copied as
    they are. :meth:`applied` swaps the averaged weights into the model for
    evaluation and checkpoints; the optimizer keeps stepping the raw ones.

    Parameters
    ----------
    model
        The model being trained.
    decay
        Weight of the old average per step, in (0, 1).
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self._trained = {name for name, _ in model.named_parameters()}
        self.shadow: dict[str, Tensor] = {
            name: value.detach().clone()
            for name, value in model.state_dict().items()
            if value.is_floating_point()
        }

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average one step toward the model's current weights."""
        for name, value in model.state_dict().items():
            if name not in self.shadow:
                continue
            if name in self._trained:
                self.shadow[name].lerp_(value, 1.0 - self.decay)
            else:
                self.shadow[name].copy_(value)

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """Hold the averaged weights in ``model`` inside the ``with`` block."""
        raw = {name: model.state_dict()[name].clone() for name in self.shadow}
        model.load_state_dict(self.shadow, strict=False)
        try:
            yield
        finally:
            model.load_state_dict(raw, strict=False)

    def load(self, averaged: dict[str, Tensor]) -> None:
        """Restore the average from the state dict of a checkpoint."""
        for name, value in self.shadow.items():
            value.copy_(averaged[name])
