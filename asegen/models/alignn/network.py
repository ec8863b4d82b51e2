"""ALIGNN / ALIGNN-FF in pure torch.

Edge-gated convolutions run on the atom graph and on its bond-angle line graph.

The architecture follows Choudhary & DeCost, npj Comput. Mater. 7, 185 (2021)
and the ALIGNN-FF paper (Digital Discovery 2, 346, 2023); see the spec of the
model in the documentation (``docs/alignn.md``) for every formula. Two
settings of :class:`ALIGNNConfig` differ from the original and are the
defaults for new force fields:

``aggregation="sum"``
    The original convolution averages neighbour messages with normalised
    gates, so in a single-element system all atoms stay identical and the
    energy does not depend on the geometry at all. A gated *sum* makes the
    number and distance of neighbours visible. ``"mean"`` restores the
    original (used for alignn's weights, ``from_alignn``; training takes it
    only when named, with a notice).
``smooth_cutoff=True``
    Every edge's gate is multiplied by a polynomial envelope of its length
    (zero at ``cutoff``), and every angle's by the envelopes of its two bonds
    at ``three_body_cutoff``, so the energy is continuous when atoms cross
    either cutoff.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from ase.data import chemical_symbols
from torch import Tensor, nn
from torch.nn import functional

from asegen._config import from_dict
from asegen.graph import AtomsGraph, edge_vectors
from asegen.graph.triplets import bond_angle_cosines, line_graph_compact
from asegen.models.alignn import compat as alignn_compat
from asegen.models.alignn.config import ALIGNNConfig
from asegen.models.alignn.features import alignn_element_table
from asegen.models.base import AtomisticModel, Head, register_model
from asegen.nn import MLP, GaussianRBF, polynomial_envelope, scatter_mean, scatter_sum
from asegen.nn.norm import layer_norm_silu
from asegen.nn.radial import zbl_energy

__all__ = ["ALIGNN", "EdgeGatedConv"]

_MEAN_NOTICE = (
    "notice: model.aggregation: mean is alignn's normalised aggregation; on "
    "single-element structures its energy ignores the geometry and its forces "
    "are zero"
)


class EdgeGatedConv(nn.Module):
    """Edge-gated graph convolution on nodes ``x`` (N, H) and edges ``y`` (E, H).

    ``m_e = W_gs x_src + W_gt x_dst + W_ge y_e`` and ``s_e = sigmoid(m_e) w_e``
    (``w_e`` an optional per-edge weight, e.g. a cutoff envelope). Messages
    ``s_e * W_msg x_src`` are summed at ``dst`` (``aggregation="sum"``) or
    divided by ``sum s_e + 1e-6`` (``"mean"``, the original ALIGNN). Updates:
    ``x' = x + SiLU(LN(W_self x + h))`` and ``y' = y + SiLU(LN(m))``.

    The four maps that act on nodes (``W_gs``, ``W_msg``, ``W_gt``,
    ``W_self``, in that order) are one ``Linear(H, 4H)``: one matrix product
    instead of four, which matters for small structures.

    With ``active`` (the ``(A,)`` nodes that send or receive messages, ``src``
    and ``dst`` then positions in it), the three message maps act on those
    nodes only and the others get ``x' = x + SiLU(LN(W_self x))``, as without
    it: on the line graph, bonds longer than the three-body cutoff take part
    in no angle, and in a radius graph they are most of the nodes.
    """

    def __init__(self, features: int, aggregation: str) -> None:
        super().__init__()
        self.aggregation = aggregation
        self.node_linear = nn.Linear(features, 4 * features)
        self.gate_edge = nn.Linear(features, features)
        self.norm_nodes = nn.LayerNorm(features)
        self.norm_edges = nn.LayerNorm(features)
        self.eps = self.norm_nodes.eps  # TorchScript cannot read a submodule's

    def forward(
        self,
        x: Tensor,
        y: Tensor,
        src: Tensor,
        dst: Tensor,
        weight: Tensor | None = None,
        update_edges: bool = True,
        active: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Return updated node and edge features (edges unchanged if not wanted)."""
        h = x.shape[1]
        if active is None:
            # (N, H) each: gate_source | message | gate_target | self; split (not
            # sliced) so the backward pass concatenates instead of zero-filling.
            gate_source, message, gate_target, own = self.node_linear(x).split(h, dim=1)
        else:
            weights, bias = self.node_linear.weight, self.node_linear.bias
            senders = x.index_select(0, active)  # (A, H)
            gate_source, message, gate_target = functional.linear(
                senders, weights[: 3 * h], bias[: 3 * h]
            ).split(h, dim=1)  # (A, H) each
            own = functional.linear(x, weights[3 * h :], bias[3 * h :])  # (N, H)
        m = (
            gate_source.index_select(0, src)
            + gate_target.index_select(0, dst)
            + self.gate_edge(y)
        )  # (E, H)
        gate = torch.sigmoid(m)
        if weight is not None:
            gate = gate * weight[:, None]
        rows = message.shape[0]
        summed = scatter_sum(gate * message.index_select(0, src), dst, rows)
        if self.aggregation == "mean":
            summed = summed / (scatter_sum(gate, dst, rows) + 1e-6)  # alignn's
        # (N, H); the inactive nodes receive nothing
        u = own + summed if active is None else own.index_add(0, active, summed)
        nodes, edges = self.norm_nodes, self.norm_edges
        lean = not self.training  # recomputing saves nothing in force training
        x = x + layer_norm_silu(u, nodes.weight, nodes.bias, self.eps, lean)
        if update_edges:
            y = y + layer_norm_silu(m, edges.weight, edges.bias, self.eps, lean)
        return x, y


class ALIGNNLayer(nn.Module):
    """One ALIGNN block: a convolution on the atom graph, then on the line graph."""

    def __init__(self, features: int, aggregation: str) -> None:
        super().__init__()
        self.atom_conv = EdgeGatedConv(features, aggregation)
        self.bond_conv = EdgeGatedConv(features, aggregation)


class _Embedding(nn.Sequential):
    """Radial basis expansion followed by two MLP layers."""

    def __init__(self, basis: GaussianRBF, bins: int, width: int, hidden: int) -> None:
        super().__init__(basis, MLP(bins, width), MLP(width, hidden))


@register_model("alignn")
class ALIGNN(AtomisticModel):
    """The ALIGNN / ALIGNN-FF network; see the module docs and :class:`ALIGNNConfig`.

    The network itself (:meth:`node_states` and :meth:`atom_energies`) works on
    plain tensors and compiles with TorchScript (``asegen export``);
    :meth:`forward` adapts it to :class:`~asegen.graph.AtomsGraph` batches.

    Parameters
    ----------
    config
        Architecture and physics options; ``ALIGNNConfig()`` gives asegen's
        defaults for a new force field.
    """

    task = "potential"

    def __init__(self, config: ALIGNNConfig | None = None) -> None:
        super().__init__()
        config = config or ALIGNNConfig()
        self.config = config
        self.predicts_energy = config.predicts_energy
        # plain attributes for the TorchScript-compatible core
        self.cutoff = float(config.cutoff)
        self.three_body_cutoff = float(config.three_body_cutoff or config.cutoff)
        self.keep_degenerate = config.keep_degenerate_triplets
        self.smooth_cutoff = config.smooth_cutoff
        self.envelope_exponent = config.envelope_exponent
        self.expand_envelope = config.use_cutoff_function and not config.multiply_cutoff
        self.scale_by_envelope = config.use_cutoff_function and config.multiply_cutoff
        self.inner_cutoff = float(config.inner_cutoff)
        self.exponent = config.exponent
        self.use_penalty = config.use_penalty
        self.penalty_factor = float(config.penalty_factor)
        self.penalty_threshold = float(config.penalty_threshold)
        self.use_zbl = config.zbl_enabled
        self.zbl_cutoff = float(config.zbl_cutoff)
        self.energy_mult_natoms = config.energy_mult_natoms

        h = config.hidden_features
        if config.atom_features == "embedding":
            self.species = nn.Embedding(119, config.atom_input_features)
        else:
            table = alignn_element_table(config.atom_features).to(
                torch.get_default_dtype()
            )
            self.species = nn.Embedding.from_pretrained(table, freeze=True)
        self.atom_embedding = MLP(config.atom_input_features, h)
        self.edge_embedding = _Embedding(
            GaussianRBF(0.0, 8.0, config.edge_input_features),
            config.edge_input_features,
            config.embedding_features,
            h,
        )
        self.angle_embedding = _Embedding(
            GaussianRBF(-1.0, 1.0, config.triplet_input_features),
            config.triplet_input_features,
            config.embedding_features,
            h,
        )
        self.alignn_layers = nn.ModuleList(
            ALIGNNLayer(h, config.aggregation) for _ in range(config.alignn_layers)
        )
        self.gcn_layers = nn.ModuleList(
            EdgeGatedConv(h, config.aggregation) for _ in range(config.gcn_layers)
        )
        self.fc = nn.Linear(h, config.graph_outputs)
        if config.link == "log":
            nn.init.constant_(self.fc.bias, torch.log(torch.tensor(0.7)).item())
        self.fc_atomwise = (
            nn.Linear(h, config.atomwise_output_features)
            if config.atomwise_output_features
            else None
        )
        self.fc_additional = (
            nn.Linear(h, config.additional_output_features)
            if config.additional_output_features
            else None
        )
        # Normalisation fitted by the training engine: E_i = scale * e_i + ref[Z_i]
        self.register_buffer("energy_scale", torch.ones(()))
        self.register_buffer("reference_energies", torch.zeros(119))

    # -- plain-data round trip -------------------------------------------------

    @torch.jit.ignore
    def hparams(self) -> dict[str, Any]:
        """Return the config as a plain dictionary."""
        return {"config": dataclasses.asdict(self.config)}

    @classmethod
    def from_hparams(cls, hparams: dict[str, Any]) -> ALIGNN:
        """Build the model described by :meth:`hparams` output."""
        return cls(ALIGNNConfig(**hparams["config"]))

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> ALIGNN:
        """Build a model to train from the ``model`` section of a run config.

        ``aggregation: mean`` (alignn's form) prints a one-line notice on
        stderr: such a model is blind to geometry on single-element structures.
        """
        config = from_dict(ALIGNNConfig, section, "model.")
        if config.aggregation == "mean":
            print(_MEAN_NOTICE, file=sys.stderr)
        return cls(config)

    @classmethod
    def split_config(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """Return the run config's sections; an alignn config.json works too.

        An alignn config trains a new model with asegen's geometry-aware
        defaults; one line on stderr lists those that differ from alignn's.
        """
        if not alignn_compat.is_alignn_config(dict(data)):
            return super().split_config(data)
        config, training = alignn_compat.config_from_alignn(dict(data), new_model=True)
        notice = alignn_compat.translation_notice(config, training)
        if notice:
            print(notice, file=sys.stderr)
        train = alignn_compat.train_config_from_alignn(training)
        if not config.predicts_energy:  # alignn's id_prop.csv values: info["target"]
            train["target"] = "target"
        return {"model": dataclasses.asdict(config), "train": train}

    @torch.jit.ignore
    def heads(self) -> dict[str, Head]:
        """Return the atomwise (per atom) and additional (per structure) heads."""
        heads = {
            "atomwise": Head(True, self.config.atomwise_output_features),
            "additional": Head(False, self.config.additional_output_features),
        }
        return {name: head for name, head in heads.items() if head.width}

    @torch.jit.ignore
    def normalisation(self) -> dict[str, Any]:
        """Return the energy scale and the non-zero reference energies by element."""
        return {
            "energy_scale": float(self.energy_scale),
            "reference_energies": {
                chemical_symbols[z]: float(v)
                for z, v in enumerate(self.reference_energies.tolist())
                if v
            },
        }

    @torch.jit.ignore
    def set_energy_reference(self, reference: np.ndarray, scale: float) -> None:
        """Set ``E_i = scale * e_i + reference[Z_i]`` (eV; see the module docs)."""
        with torch.no_grad():
            self.reference_energies.copy_(torch.from_numpy(np.asarray(reference)))
            self.energy_scale.fill_(scale)

    @torch.jit.ignore
    def graph_options(self) -> dict[str, Any]:
        """Cutoff, neighbour cap and (when set) ``cutoff_extra`` of the atom graph."""
        options: dict[str, Any] = {
            "cutoff": self.config.cutoff,
            "max_neighbors": self.config.max_neighbors,
        }
        if self.config.cutoff_extra is not None:
            options["cutoff_extra"] = self.config.cutoff_extra
        return options

    # -- the network on plain tensors (TorchScript-compatible) -------------------

    def node_states(
        self, numbers: Tensor, vectors: Tensor, edge_index: Tensor, shifts: Tensor
    ) -> Tensor:
        """Return the final ``(N, H)`` atom features.

        Parameters
        ----------
        numbers
            ``(N,)`` atomic numbers.
        vectors
            ``(E, 3)`` edge vectors ``pos[j] - pos[i] + shifts @ cell``.
        edge_index
            ``(2, E)`` centre and neighbour of each directed edge.
        shifts
            ``(E, 3)`` image shifts (to recognise reverse edges).
        """
        d = torch.linalg.vector_norm(vectors, dim=1)  # (E,)
        return self._node_states(numbers, vectors, d, edge_index, shifts)

    def _node_states(
        self,
        numbers: Tensor,
        vectors: Tensor,
        d: Tensor,
        edge_index: Tensor,
        shifts: Tensor,
    ) -> Tensor:
        """:meth:`node_states` given the ``(E,)`` edge lengths ``d`` too."""
        src, dst = edge_index[0], edge_index[1]
        allowed = d.detach() <= self.three_body_cutoff
        bonds, pair_a, pair_b = line_graph_compact(
            edge_index, numbers.shape[0], allowed, shifts, self.keep_degenerate
        )  # (A,) edges within the three-body cutoff; (T,), (T,) positions in it
        edge_a, edge_b = bonds.index_select(0, pair_a), bonds.index_select(0, pair_b)
        # the line graph's messages run on the A bonds (all edges: no subset)
        active: Tensor | None = bonds if bonds.shape[0] < d.shape[0] else None
        if active is None:
            pair_a, pair_b = edge_a, edge_b
        cos = bond_angle_cosines(
            -vectors.index_select(0, edge_a),
            vectors.index_select(0, edge_b),
            lengths=(d.index_select(0, edge_a), d.index_select(0, edge_b)),
        )  # (T,)

        x = self.atom_embedding(self.species(numbers).to(vectors.dtype))  # (N, H)
        if self.expand_envelope:  # alignn's quirk: expand the envelope value
            y = self.edge_embedding(
                polynomial_envelope(d, self.inner_cutoff, self.exponent)
            )
        else:
            y = self.edge_embedding(d)  # (E, H)
        if self.scale_by_envelope:
            y = y * polynomial_envelope(d, self.inner_cutoff, self.exponent)[:, None]
        z = self.angle_embedding(cos)  # (T, H)

        edge_weight: Tensor | None = None
        triplet_weight: Tensor | None = None
        if self.smooth_cutoff:
            edge_weight = polynomial_envelope(d, self.cutoff, self.envelope_exponent)
            bond = polynomial_envelope(
                d, self.three_body_cutoff, self.envelope_exponent
            )
            triplet_weight = bond.index_select(0, edge_a) * bond.index_select(0, edge_b)

        last = len(self.alignn_layers) - 1
        for k, layer in enumerate(self.alignn_layers):
            x, m = layer.atom_conv(x, y, src, dst, edge_weight, True)
            # the angle features of the last block are never read
            y, z = layer.bond_conv(
                m, z, pair_a, pair_b, triplet_weight, k < last, active
            )
        last = len(self.gcn_layers) - 1
        for k, layer in enumerate(self.gcn_layers):
            x, y = layer(x, y, src, dst, edge_weight, k < last)
        return x

    def atom_energies(
        self,
        numbers: Tensor,
        vectors: Tensor,
        edge_index: Tensor,
        shifts: Tensor,
        atoms_in_structure: Tensor,
    ) -> Tensor:
        """Return the ``(N,)`` per-atom energies (eV), summing to each structure's.

        ``atoms_in_structure`` is the ``(N,)`` atom count of each atom's
        structure (used when ``energy_mult_natoms`` is off).
        """
        d = torch.linalg.vector_norm(vectors, dim=1)  # (E,)
        x = self._node_states(numbers, vectors, d, edge_index, shifts)
        return self._energies_from_states(numbers, x, d, edge_index, atoms_in_structure)

    def _energies_from_states(
        self,
        numbers: Tensor,
        x: Tensor,
        d: Tensor,
        edge_index: Tensor,
        atoms_in_structure: Tensor,
    ) -> Tensor:
        energies = self.energy_scale * self.fc(x)[:, 0]  # fc(mean x) = mean fc(x)
        if not self.energy_mult_natoms:
            energies = energies / atoms_in_structure.to(x.dtype)
        energies = energies + self.reference_energies[numbers].to(x.dtype)
        pair = self._pair_energies(numbers, d, edge_index)
        return energies if pair is None else energies + pair

    def _pair_energies(
        self, numbers: Tensor, d: Tensor, edge_index: Tensor
    ) -> Tensor | None:
        """Per-atom share of the short-range penalty and ZBL terms (eV).

        Both terms are exactly zero beyond their range (``penalty_threshold``,
        ``zbl_cutoff``), so they are computed on the edges within it only, and
        ``None`` (nothing to add) is returned when there is none: the usual
        case, which then costs two small ops instead of some fifty.
        """
        reach = 0.0
        if self.use_penalty:
            reach = max(reach, self.penalty_threshold)
        if self.use_zbl:
            reach = max(reach, self.zbl_cutoff)
        close = torch.nonzero(d.detach() < reach).squeeze(1)  # (C,)
        if close.shape[0] == 0:
            return None
        d = d.index_select(0, close)  # (C,)
        src = edge_index[0].index_select(0, close)
        dst = edge_index[1].index_select(0, close)
        pair = torch.zeros_like(d)  # per directed edge; each pair appears twice
        if self.use_penalty:
            pair = pair + self.penalty_factor * torch.relu(self.penalty_threshold - d)
        if self.use_zbl:
            pair = pair + 0.5 * zbl_energy(
                d, numbers[src], numbers[dst], self.zbl_cutoff
            )
        n = numbers.shape[0]
        return scatter_sum(0.5 * pair, src, n) + scatter_sum(0.5 * pair, dst, n)

    # -- batches of structures ---------------------------------------------------

    @torch.jit.ignore
    def forward(self, graph: AtomsGraph) -> dict[str, Tensor]:
        """Return graph outputs, and energy and per-atom energies for a potential."""
        vectors = edge_vectors(graph)  # (E, 3)
        d = torch.linalg.vector_norm(vectors, dim=1)  # (E,)
        x = self._node_states(graph.numbers, vectors, d, graph.edge_index, graph.shifts)
        cfg = self.config
        n_structures = graph.n_structures
        out: dict[str, Tensor] = {}
        if cfg.classification or not self.predicts_energy:
            graph_out = scatter_mean(self.fc(x), graph.batch, n_structures)
            if cfg.classification:
                out["logits"] = torch.log_softmax(graph_out, dim=1)
            else:
                out["graph"] = _link(graph_out, cfg.link)
        if self.fc_atomwise is not None:
            out["atomwise"] = self.fc_atomwise(x)
        if self.fc_additional is not None:
            mean_x = scatter_mean(x, graph.batch, n_structures)
            out["additional"] = self.fc_additional(mean_x)
        if self.predicts_energy:
            energies = self._energies_from_states(
                graph.numbers, x, d, graph.edge_index, graph.n_atoms[graph.batch]
            )
            out["energies"] = energies
            out["energy"] = scatter_sum(energies, graph.batch, n_structures)
        return out


def _link(values: Tensor, link: str) -> Tensor:
    if link == "log":
        return torch.exp(values)
    if link == "logit":
        return torch.sigmoid(values)
    return values
