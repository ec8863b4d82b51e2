"""An exponential moving average of a model's weights."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

__all__ = ["WeightAverage"]


class WeightAverage:
    """Shadow weights ``w_avg <- d_n * w_avg + (1 - d_n) * w`` per step.

    The decay warms up, ``d_n = min(decay, (1 + n) / (10 + n))`` at update
    ``n`` (the rule of TensorFlow's ``ExponentialMovingAverage`` with
    ``num_updates``): without it the average of a short run would still hold
    most of the random initial weights (0.999^800 = 45 % after 800 steps).
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
        self.updates = 0
        self._trained = {name for name, _ in model.named_parameters()}
        self.shadow: dict[str, Tensor] = {
            name: value.detach().clone()
            for name, value in model.state_dict().items()
            if value.is_floating_point()
        }

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average one step toward the model's current weights."""
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for name, value in model.state_dict().items():
            if name not in self.shadow:
                continue
            if name in self._trained:
                self.shadow[name].lerp_(value, 1.0 - decay)
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

    def load(self, averaged: dict[str, Tensor], updates: int) -> None:
        """Restore the average of a checkpoint taken after ``updates`` steps."""
        self.updates = updates
        for name, value in self.shadow.items():
            value.copy_(averaged[name])
