"""The conditioning vector of every atom: diffusion time and structure properties.

``c_i = MLP(sin(t_i)) + sum_p e_p(y_p[structure of i])``: a sinusoidal
encoding of the atom's diffusion time through an MLP, plus one embedding per
configured property (a scalar through a sinusoidal encoding and a linear map,
an integer through a table). A NaN property value, or a missing label, selects
the property's learned null vector: classifier-free guidance drops a
condition by setting it to NaN.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from asegen.graph import AtomsGraph
from asegen.nn import SinusoidalEmbedding

__all__ = ["PROPERTY_PREFIX", "TIME_LABEL", "Conditioning", "PropertyEmbedding"]

#: The structure label holding each structure's diffusion time, ``(S, 1)``.
TIME_LABEL = "t"

#: Structure labels ``PROPERTY_PREFIX + name`` hold the conditioning values.
PROPERTY_PREFIX = "property:"

# periods of the sinusoidal encodings: time in [0, 1] resolved to 1/100 and
# standardised property values (mostly within +-3) resolved to 1/10
_TIME_PERIODS = (0.01, 10.0)
_VALUE_PERIODS = (0.1, 20.0)


class PropertyEmbedding(nn.Module):
    """Embed one property per structure; NaN gives the learned null vector.

    Parameters
    ----------
    kind
        ``"scalar"``: sinusoidal encoding (``encoding`` channels) then a
        linear map. ``"integer"``: a table of ``classes`` rows indexed by the
        value (a class index stored as a float).
    features
        Width of the embedding.
    encoding
        Width of the sinusoidal encoding of a scalar.
    classes
        Number of values of an integer property.
    """

    def __init__(
        self, kind: str, features: int, encoding: int, classes: int | None = None
    ) -> None:
        super().__init__()
        self.kind = kind
        self.null = nn.Parameter(torch.zeros(features))
        if kind == "scalar":
            self.encode = SinusoidalEmbedding(encoding, *_VALUE_PERIODS)
            self.embed: nn.Module = nn.Linear(encoding, features)
        else:
            self.embed = nn.Embedding(int(classes or 0), features)

    def forward(self, values: Tensor) -> Tensor:
        """Return the ``(S, F)`` embeddings of ``(S,)`` values (NaN: not given)."""
        given = ~torch.isnan(values)
        known = torch.where(given, values, torch.zeros_like(values))
        if self.kind == "scalar":
            embedded = self.embed(self.encode(known))
        else:
            embedded = self.embed(known.long()).to(values.dtype)
        return torch.where(given[:, None], embedded, self.null.to(values.dtype))


class Conditioning(nn.Module):
    """The ``(N, F)`` conditioning vector of every atom (see the module docs).

    Parameters
    ----------
    features
        Width ``F`` of the conditioning vector.
    time_features
        Width of the sinusoidal encodings of time and scalar properties.
    properties
        Property name to options (``kind``, ``classes``), as in
        :class:`~asegen.models.score.ScoreConfig`.
    """

    def __init__(
        self,
        features: int,
        time_features: int,
        properties: Mapping[str, Mapping[str, Any]],
    ) -> None:
        super().__init__()
        self.time_encoding = SinusoidalEmbedding(time_features, *_TIME_PERIODS)
        self.time_mlp = nn.Sequential(
            nn.Linear(time_features, features),
            nn.SiLU(),
            nn.Linear(features, features),
        )
        self.labels = [PROPERTY_PREFIX + name for name in properties]
        self.properties = nn.ModuleList(
            PropertyEmbedding(
                options["kind"], features, time_features, options.get("classes")
            )
            for options in properties.values()
        )

    def atom_times(self, graph: AtomsGraph) -> Tensor:
        """Return the ``(N,)`` time each atom sees: 0 for fixed atoms."""
        t = graph.structure_labels.get(TIME_LABEL)
        if t is None:
            raise ValueError(
                f"the score model needs the structure label {TIME_LABEL!r} "
                "(diffusion time, shape (S, 1)); add it with graph.with_labels"
            )
        t = t.reshape(graph.n_structures).to(graph.positions.dtype)
        t = t.index_select(0, graph.batch)  # (N,)
        return torch.where(graph.fixed, torch.zeros_like(t), t)

    def forward(self, graph: AtomsGraph) -> Tensor:
        """Return the ``(N, F)`` conditioning vectors of the atoms of ``graph``."""
        c = self.time_mlp(self.time_encoding(self.atom_times(graph)))  # (N, F)
        if not self.labels:
            return c
        dtype, n = graph.positions.dtype, graph.n_structures
        total = c.new_zeros(n, c.shape[1])
        for label, embedding in zip(self.labels, self.properties, strict=True):
            values = graph.structure_labels.get(label)
            if values is None:
                values = c.new_full((n,), float("nan"))
            total = total + embedding(values.reshape(n).to(dtype))  # (S, F)
        return c + total.index_select(0, graph.batch)
