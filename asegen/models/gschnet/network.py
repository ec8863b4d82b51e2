"""The placer network: SchNet features, next-type and distance heads (cG-SchNet).

A partial structure is a graph of its placed atoms plus two tokens, the
origin and the focus (:mod:`asegen.placer.partial` builds it). The nodes
flagged in the atom label ``"member"`` form the prediction set; each gets the
feature ``h_j = [x_j, c]`` (SchNet feature and conditioning vector). Then:

Next type
    Every member predicts a distribution over ``[stop, *atom_types]``; the
    structure's distribution is their normalised product (product of experts;
    or their mean with ``average_type_distributions``).
Distances
    For the next atom's type ``z`` (the structure label ``"next_type"``,
    teacher-forced in training, sampled in generation), every member predicts
    the distribution of its distance to the new atom over
    :attr:`GSchNetConfig.n_bins` bins: an MLP of ``h_j * [E(z), 1]``.

Class ``0`` of a type label is ``stop``; an element is its atomic number.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from asegen._config import from_dict
from asegen.graph import AtomsGraph, edge_vectors
from asegen.models.base import AtomisticModel, register_model
from asegen.models.gschnet.conditioning import Conditioning
from asegen.models.gschnet.config import GSchNetConfig
from asegen.models.gschnet.schnet import SchNet, mlp
from asegen.nn import scatter_sum

__all__ = ["MEMBER_LABEL", "NEXT_TYPE_LABEL", "STOP", "GSchNet"]

#: Atom label flagging the prediction set (1.0) among a partial structure's nodes.
MEMBER_LABEL = "member"
#: Structure label: the atomic number of the next atom, :data:`STOP` for stop.
NEXT_TYPE_LABEL = "next_type"
#: The class of ``stop`` in type labels and logits.
STOP = 0


@register_model("gschnet")
class GSchNet(AtomisticModel):
    """cG-SchNet's network; see the module docs.

    Parameters
    ----------
    config
        Cutoffs, sizes and conditions (``GSchNetConfig()``: the QM9 settings of
        schnetpack-gschnet).
    fitted
        Plain data fitted to the training data (the elements when
        ``config.atom_types`` is ``None``, condition statistics, the
        relative-energy fit), kept with the weights for the generator.
    """

    task = "placer"
    predicts_energy = False

    def __init__(
        self, config: GSchNetConfig | None = None, fitted: dict[str, Any] | None = None
    ) -> None:
        super().__init__()
        config = config or GSchNetConfig()
        self.config = config
        self.fitted: dict[str, Any] = dict(fitted or {})
        f = config.n_atom_basis
        self.representation = SchNet(
            f,
            config.n_interactions,
            config.n_filters,
            config.n_rbf,
            config.model_cutoff,
        )
        self.conditioning = Conditioning(
            config.conditions, config.condition_features, config.condition_layers
        )
        width = f + (config.condition_features if config.conditions else 0)
        self.type_head = mlp(
            width,
            config.type_prediction_n_hidden,
            119,
            config.type_prediction_n_layers,
        )
        self.next_type_embedding = nn.Embedding(119, f, padding_idx=None)
        self.distance_head = mlp(
            width,
            config.distance_prediction_n_hidden,
            config.n_bins,
            config.distance_prediction_n_layers,
        )
        self.register_buffer(
            "bin_centres", torch.linspace(0.0, config.max_dist, config.n_bins)
        )

    # -- plain-data round trip -------------------------------------------------

    def hparams(self) -> dict[str, Any]:
        """Return the config and the fitted statistics as plain data."""
        return {"config": dataclasses.asdict(self.config), "fitted": self.fitted}

    @classmethod
    def from_hparams(cls, hparams: dict[str, Any]) -> GSchNet:
        """Build the model described by :meth:`hparams` output."""
        config = from_dict(GSchNetConfig, hparams["config"], "model.")
        return cls(config, hparams.get("fitted"))

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> GSchNet:
        """Build a model from the ``model`` section of a run config (strictly)."""
        return cls(from_dict(GSchNetConfig, section, "model."))

    def graph_options(self) -> dict[str, Any]:
        """Return the SchNet graph's cutoff (the placer adds the tokens)."""
        return {"cutoff": self.config.model_cutoff, "max_neighbors": None}

    def normalisation(self) -> dict[str, Any]:
        """Return the statistics fitted to the training data."""
        return dict(self.fitted)

    @property
    def atom_types(self) -> list[int]:
        """The atomic numbers the model places: the config's, else the fitted ones."""
        if self.config.atom_types is not None:
            return list(self.config.atom_types)
        return [int(z) for z in self.fitted.get("atom_types", [])]

    def set_atom_types(self, numbers: list[int]) -> None:
        """Record the elements fitted to the training data (config left as given)."""
        self.fitted = {**self.fitted, "atom_types": sorted({int(z) for z in numbers})}

    def type_classes(self) -> Tensor:
        """Return ``[STOP, *atom_types]``: the type head's columns in use."""
        return torch.tensor([STOP, *self.atom_types], device=self.bin_centres.device)

    # -- the network -------------------------------------------------------------

    def member_features(self, graph: AtomsGraph) -> tuple[Tensor, Tensor]:
        """Return the features ``h`` of the prediction set and its node indices."""
        d = torch.linalg.vector_norm(edge_vectors(graph), dim=1)
        x = self.representation(graph.numbers, d, graph.edge_index)
        members = torch.nonzero(graph.atom_labels[MEMBER_LABEL] > 0.5).squeeze(1)
        h = x[members]
        c = self.conditioning(graph)
        if c is not None:
            h = torch.cat([h, c[graph.batch[members]]], dim=1)
        return h, members

    def type_log_probs(self, h: Tensor, structure: Tensor, n_structures: int) -> Tensor:
        """Return ``(S, 1 + T)`` log-probabilities over ``[stop, *atom_types]``.

        ``structure`` holds the structure index of each member row of ``h``.
        """
        logits = self.type_head(h)[:, self.type_classes()]
        per_member = torch.log_softmax(logits, dim=1)
        if self.config.average_type_distributions:
            probs = scatter_sum(per_member.exp(), structure, n_structures)
            counts = torch.bincount(structure, minlength=n_structures).clamp_min(1)
            return torch.log(probs / counts[:, None] + 1e-12)
        return torch.log_softmax(
            scatter_sum(per_member, structure, n_structures), dim=1
        )

    def distance_log_probs(self, h: Tensor, next_types: Tensor) -> Tensor:
        """Return ``(M, n_bins)`` log-probabilities of each member's distance.

        ``next_types`` holds the atomic number of the new atom for each row.
        """
        f = self.config.n_atom_basis
        scale = self.next_type_embedding(next_types)
        u = torch.cat([h[:, :f] * scale, h[:, f:]], dim=1)
        return torch.log_softmax(self.distance_head(u), dim=1)

    def forward(self, graph: AtomsGraph) -> dict[str, Tensor]:
        """Return ``"type"`` ``(S, 1 + T)`` and ``"distance"`` ``(M, n_bins)``.

        Also ``"members"``: the node index of each row of ``"distance"``. The
        distances are those to an atom of the type in ``"next_type"``.
        """
        h, members = self.member_features(graph)
        structure = graph.batch[members]
        types = self.type_log_probs(h, structure, graph.n_structures)
        next_type = graph.structure_labels[NEXT_TYPE_LABEL].reshape(-1)
        distance = self.distance_log_probs(h, next_type[structure])
        return {"type": types, "distance": distance, "members": members}
