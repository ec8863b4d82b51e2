"""The conditioning vector of the placer: one embedding per condition, mixed.

Each condition of :attr:`GSchNetConfig.conditions` is embedded on its own
(:class:`ConditionEmbedding`), the embeddings are concatenated and an MLP of
``condition_layers`` layers maps them to ``condition_features`` numbers: the
vector ``c`` that joins every prediction-set member's features. A structure
reads its condition ``name`` from the structure label ``"condition:<name>"``:

``scalar``
    ``(S, 1)``, expanded in Gaussians with centres ``min, min + spacing, ...``
    (width ``spacing``), then a two-layer MLP.
``vector``
    ``(S, size)``, a two-layer MLP.
``composition``
    ``(S, 120)``: the fraction of each atomic number (columns 0-118) and the
    number of atoms (column 119), as :func:`composition_vector` writes them;
    fractions through a linear map, the count through a Gaussian expansion.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from asegen.graph import AtomsGraph
from asegen.models.gschnet.schnet import mlp

__all__ = [
    "CONDITION_PREFIX",
    "ConditionEmbedding",
    "Conditioning",
    "composition_vector",
    "condition_width",
]

#: Structure labels ``CONDITION_PREFIX + name`` hold the conditions' values.
CONDITION_PREFIX = "condition:"

#: Gaussians of a scalar whose range is fitted to the data.
FITTED_CENTRES = 11


def condition_width(options: Mapping[str, Any]) -> int:
    """Return the number of values of one condition (its label's width)."""
    if options["kind"] == "vector":
        return int(options["size"])
    return 120 if options["kind"] == "composition" else 1


def composition_vector(numbers: Sequence[int], *, skip_h: bool = False) -> np.ndarray:
    """Return the ``(120,)`` composition label: fractions by Z, then the count."""
    z = np.asarray(numbers, dtype=np.int64)
    if skip_h:
        z = z[z != 1]
    out = np.zeros(120)
    if len(z):
        out[:119] = np.bincount(z, minlength=119)[:119] / len(z)
    out[119] = len(z)
    return out


class _Gaussians(nn.Module):
    """Gaussians with centres and width held in buffers (refitted before training)."""

    def __init__(self, n: int, low: float, high: float) -> None:
        super().__init__()
        self.register_buffer("centres", torch.linspace(low, high, n))
        self.register_buffer("width", torch.tensor((high - low) / max(n - 1, 1)))

    def set_range(self, low: float, high: float) -> None:
        """Spread the centres evenly over ``[low, high]``."""
        n = self.centres.shape[0]
        high = max(high, low + 1e-6)
        self.centres.copy_(torch.linspace(low, high, n))
        self.width.fill_((high - low) / max(n - 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        """Return ``(S, n)`` expansions of ``(S, 1)`` values."""
        return torch.exp(-0.5 * ((x - self.centres) / self.width) ** 2)


class ConditionEmbedding(nn.Module):
    """Embed one condition into ``features`` numbers (see the module docs)."""

    def __init__(self, options: Mapping[str, Any], features: int) -> None:
        super().__init__()
        self.kind = options["kind"]
        if self.kind == "scalar":
            if "spacing" in options:
                low, high, step = options["min"], options["max"], options["spacing"]
                n = math.ceil((high - low) / step) + 1
                high = low + (n - 1) * step
            else:
                low, high, n = 0.0, 1.0, FITTED_CENTRES
            self.expand = _Gaussians(n, low, high)
            self.net = mlp(n, features, features, 2)
        elif self.kind == "vector":
            size = int(options["size"])
            self.net = mlp(size, features, features, 2)
        else:
            self.expand = _Gaussians(FITTED_CENTRES, 1.0, 30.0)
            self.fractions = nn.Linear(119, features)
            self.net = mlp(FITTED_CENTRES, features, features, 2)

    def forward(self, value: Tensor) -> Tensor:
        """Return ``(S, features)`` embeddings of ``(S, width)`` values."""
        if self.kind == "scalar":
            return self.net(self.expand(value))
        if self.kind == "vector":
            return self.net(value)
        return self.fractions(value[:, :119]) + self.net(self.expand(value[:, 119:]))


class Conditioning(nn.Module):
    """The conditioning vector of every structure, ``(S, features)``."""

    def __init__(
        self, conditions: Mapping[str, Mapping[str, Any]], features: int, layers: int
    ) -> None:
        super().__init__()
        self.names = list(conditions)
        self.embeddings = nn.ModuleDict(
            {
                name: ConditionEmbedding(conditions[name], features)
                for name in conditions
            }
        )
        width = features * len(self.names)
        self.mix = mlp(width, features, features, layers) if self.names else None

    def forward(self, graph: AtomsGraph) -> Tensor | None:
        """Return the conditioning vectors, or ``None`` for an unconditioned model."""
        if self.mix is None:
            return None
        parts = []
        for name in self.names:
            label = graph.structure_labels.get(CONDITION_PREFIX + name)
            if label is None:
                raise KeyError(f"the batch has no value of the condition {name!r}")
            parts.append(self.embeddings[name](label))
        return self.mix(torch.cat(parts, dim=1))
