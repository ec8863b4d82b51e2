"""The score network of the diffusion generator: a conditioned PaiNN.

Atoms start from an embedding of their atomic number (0 = type masked, a
learned row like any element) and zero vectors. Each of ``layers``
interaction blocks first modulates the scalars with the atom's conditioning
vector ``c`` (diffusion time and properties, :mod:`.conditioning`),

``s <- s * (1 + gamma_l(c)) + beta_l(c)``   (FiLM, zero-initialised),

then runs a PaiNN message and update (:mod:`.blocks`): so time and
properties shape every block, not only the output. Edges enter only through
``pos[j] - pos[i] + shifts @ cell`` (Gaussian radial basis times a polynomial
envelope at the cutoff, and unit vectors), so every output is invariant to
translations and to wrapping atoms by lattice vectors, and rotates with the
structure. The heads (:class:`~asegen.models.score.ScoreConfig` ``heads``):

``"positions"``
    ``(N, 3)``, two gated equivariant blocks from ``(s, v)`` to one vector
    per atom: the predicted standard noise of the positions.
``"types"``
    ``(N, classes)`` invariant logits, an MLP on ``s`` whose last layer
    starts at zero.
``"cell"``
    ``(S, 3, 3)`` symmetric, rotating as ``R M R^T``
    (:class:`~asegen.models.score.blocks.CellHead`), starting at zero: the
    predicted noise of a symmetric cell matrix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional

from asegen._config import from_dict
from asegen.graph import AtomsGraph, edge_vectors
from asegen.models.base import AtomisticModel, Head, register_model
from asegen.models.score.blocks import CellHead, GatedEquivariant, Message, Update
from asegen.models.score.conditioning import Conditioning
from asegen.models.score.config import ScoreConfig
from asegen.nn import GaussianRBF, polynomial_envelope, scatter_mean

__all__ = ["ScoreModel"]


class _PositionsHead(nn.Module):
    """Two gated equivariant blocks: ``(s, v)`` to one vector per atom."""

    def __init__(self, features: int) -> None:
        super().__init__()
        half = max(features // 2, 1)
        self.first = GatedEquivariant(features, features, half, half)
        self.last = GatedEquivariant(half, half, 0, 1, activation=False)

    def forward(self, s: Tensor, v: Tensor) -> Tensor:
        """Return the ``(N, 3)`` vector of every atom."""
        s, v = self.first(s, v)
        return self.last(s, v)[1][:, :, 0]


def _types_head(features: int, classes: int) -> nn.Sequential:
    head = nn.Sequential(
        nn.Linear(features, features), nn.SiLU(), nn.Linear(features, classes)
    )
    nn.init.zeros_(head[2].weight)
    nn.init.zeros_(head[2].bias)
    return head


@register_model("score")
class ScoreModel(AtomisticModel):
    """Conditioned equivariant score network; see the module docs.

    ``forward(graph)`` reads the structure label ``"t"`` (``(S, 1)``
    diffusion time in ``[0, 1]``; fixed atoms see 0) and, for every
    configured property, ``"property:<name>"`` (``(S, 1)``, NaN or absent:
    not given). It returns one tensor per configured head.

    Parameters
    ----------
    config
        Architecture, heads and conditioning; ``ScoreConfig()`` gives the
        default 64-feature, 4-block network with a positions head.
    process
        Plain data the diffusion task fits to the training data (noisers,
        property statistics; :class:`asegen.diffusion.process.Process`),
        stored with the weights so that a checkpoint rebuilds the whole
        generator. The network itself does not read it.
    """

    task = "diffusion"
    predicts_energy = False

    def __init__(
        self, config: ScoreConfig | None = None, process: dict[str, Any] | None = None
    ) -> None:
        super().__init__()
        config = config or ScoreConfig()
        self.config = config
        self.process: dict[str, Any] = dict(process or {})
        f, layers = config.features, config.layers
        self.cutoff = float(config.cutoff)
        self.species = nn.Embedding(119, f)
        self.radial_basis = GaussianRBF(0.0, self.cutoff, config.radial_basis)
        if config.centred:  # scalars and a vector from the centroid distance
            b = config.radial_basis
            self.centre_basis = GaussianRBF(0.0, 2 * self.cutoff, b)
            self.centre_scalars = nn.Linear(b + 1, f)
            self.centre_vectors = nn.Linear(b + 1, f)
        self.conditioning = Conditioning(f, config.time_features, config.properties)
        # neighbours per atom of the clean training structures, fitted by the
        # diffusion task (0: not fitted, the plain mean)
        self.register_buffer("reference_neighbors", torch.zeros(()))
        # FiLM scale and shift of all blocks from one matrix product
        self.film = nn.Linear(f, 2 * f * layers)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        self.messages = nn.ModuleList(
            Message(f, config.radial_basis) for _ in range(layers)
        )
        self.updates = nn.ModuleList(Update(f) for _ in range(layers))
        heads = config.heads
        self.positions_head = _PositionsHead(f) if "positions" in heads else None
        self.types_head = (
            _types_head(f, heads["types"]["classes"]) if "types" in heads else None
        )
        self.cell_head = CellHead(f, config.radial_basis) if "cell" in heads else None

    # -- plain-data round trip -------------------------------------------------

    def hparams(self) -> dict[str, Any]:
        """Return the config and the diffusion process as plain data."""
        return {"config": dataclasses.asdict(self.config), "process": self.process}

    @classmethod
    def from_hparams(cls, hparams: dict[str, Any]) -> ScoreModel:
        """Build the model described by :meth:`hparams` output."""
        config = from_dict(ScoreConfig, hparams["config"], "model.")
        return cls(config, hparams.get("process"))

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> ScoreModel:
        """Build a model from the ``model`` section of a run config (strictly)."""
        return cls(from_dict(ScoreConfig, section, "model."))

    def graph_options(self) -> dict[str, Any]:
        """Cutoff and neighbour cap of the atom graph."""
        return {
            "cutoff": self.config.cutoff,
            "max_neighbors": self.config.max_neighbors,
        }

    def heads(self) -> dict[str, Head]:
        """Return the configured outputs: positions, types and/or cell."""
        widths = {
            "positions": Head(True, 3),
            "types": Head(True, self.config.heads.get("types", {}).get("classes", 0)),
            "cell": Head(False, 9),
        }
        return {name: widths[name] for name in self.config.heads}

    # -- the network -------------------------------------------------------------

    def _centred(
        self, graph: AtomsGraph, s: Tensor, v: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Add each atom's displacement from its centroid to ``s`` and ``v``.

        The constant basis column keeps a vector along the displacement
        however far the atom is, so the model can always point it home.
        """
        centroid = scatter_mean(graph.positions, graph.batch, graph.n_structures)
        offset = graph.positions - centroid[graph.batch]  # (N, 3)
        r = torch.linalg.vector_norm(offset, dim=1)  # (N,)
        basis = torch.cat([self.centre_basis(r), torch.ones_like(r)[:, None]], dim=1)
        s = s + self.centre_scalars(basis)
        v = v + (offset / self.cutoff)[:, :, None] * self.centre_vectors(basis)[:, None]
        return s, v

    def forward(self, graph: AtomsGraph) -> dict[str, Tensor]:
        """Return one output per configured head (see the module docs)."""
        f, layers = self.config.features, self.config.layers
        n = graph.numbers.shape[0]
        centre, neighbour = graph.edge_index[0], graph.edge_index[1]
        vectors = edge_vectors(graph)  # (E, 3)
        d = torch.linalg.vector_norm(vectors, dim=1)  # (E,)
        unit = vectors / d.clamp_min(1e-9)[:, None]  # (E, 3)
        envelope = polynomial_envelope(d, self.cutoff, self.config.envelope_exponent)
        rbf = self.radial_basis(d)  # (E, B)
        # a constant column stands for the filters' bias, so that the envelope
        # multiplies B + 1 columns instead of 3F filter columns
        basis = torch.cat([rbf, torch.ones_like(d)[:, None]], dim=1)  # (E, B + 1)
        basis = basis * envelope[:, None]

        c = self.conditioning(graph)  # (N, F)
        film = self.film(functional.silu(c)).split(f, dim=1)  # 2L x (N, F)

        scale = None
        if self.config.aggregation == "mean":
            counts = torch.bincount(centre, minlength=n).to(vectors.dtype)
            reference = self.reference_neighbors.to(vectors.dtype).clamp_min(1.0)
            # the sum where an atom has no more neighbours than in training, the
            # mean scaled to the training count where it has more: never an
            # amplified message (an atom with 2 neighbours in a stretched cell
            # would otherwise get them x25 per block and overflow)
            scale = reference / torch.maximum(counts, reference)
        s = self.species(graph.numbers).to(vectors.dtype)  # (N, F)
        v = s.new_zeros(n, 3, f)  # (N, 3, F)
        if self.config.centred:
            s, v = self._centred(graph, s, v)
        for k in range(layers):
            s = s * (1 + film[2 * k]) + film[2 * k + 1]
            s, v = self.messages[k](s, v, basis, unit, centre, neighbour, scale)
            s, v = self.updates[k](s, v)

        out: dict[str, Tensor] = {}
        if self.positions_head is not None:
            out["positions"] = self.positions_head(s, v)
        if self.types_head is not None:
            out["types"] = self.types_head(s)
        if self.cell_head is not None:
            out["cell"] = self.cell_head(
                s, rbf, envelope, unit, graph.edge_index, graph.batch, graph.n_atoms
            )
        return out
