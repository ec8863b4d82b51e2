"""Configuration of the ALIGNN model: architecture, graph and physics options.

Field names follow the alignn package's model block and TrainingConfig where
the meaning is the same, so an alignn ``config.json`` maps onto this class
field by field (:mod:`asegen.models.alignn.compat`). The defaults are asegen's
choices for a new force field; the alignn-compatible values are noted.
"""

from __future__ import annotations

from dataclasses import dataclass

from asegen._config import check_choice
from asegen.errors import ConfigError
from asegen.models.alignn.features import ALIGNN_TABLE_WIDTHS

__all__ = ["ALIGNNConfig"]

_AGGREGATIONS = ("sum", "mean")
_LINKS = ("identity", "log", "logit")
_ATOM_FEATURES = (*ALIGNN_TABLE_WIDTHS, "embedding")


@dataclass(frozen=True)
class ALIGNNConfig:
    """Every option of :class:`~asegen.models.alignn.ALIGNN`.

    The defaults are a small force field chosen on test accuracy per second of
    training, evaluation and MD against the previous defaults and alignn's
    ALIGNN-FF config (docs/alignn.md, "Configuration"); a checkpoint keeps the
    values it was trained with.

    Attributes
    ----------
    cutoff
        Pair cutoff of the atom graph, Å.
    max_neighbors
        Keep only the K nearest neighbours per atom (alignn: 12). ``None``
        (default) is the plain radius graph, whose energy does not jump when
        the nearest set changes.
    cutoff_extra
        alignn's fallback for sparse structures (``None``, default: off):
        while an atom has fewer than ``max_neighbors`` neighbours (none at
        all, without a cap), the structure's neighbours are searched again
        with the cutoff grown by this step, Å (see
        :func:`~asegen.graph.neighbor_list`). With ``smooth_cutoff`` the
        envelope still ends at ``cutoff``, so the extra pairs then carry no
        weight.
    three_body_cutoff
        Bonds longer than this take no part in angles, Å (``None``: cutoff).
    keep_degenerate_triplets
        Keep angle pairs of a bond with its own reverse (cosine 1 whatever the
        geometry). alignn: True; default False.
    atom_features
        ``"cgcnn"`` (92-d CGCNN table), ``"basic"`` (11-d), ``"cfid"``
        (438-d CFID descriptors, alignn's table), ``"atomic_number"`` (1-d)
        or ``"embedding"`` (learned, ``atom_input_features`` wide).
    atom_input_features
        Width of the atom features; must match the table (``None``: derived).
    edge_input_features, triplet_input_features
        Gaussian bins of the bond length (0-8 Å) and angle cosine (-1..1).
    embedding_features, hidden_features
        Width of the embedding MLPs and of the convolutions.
    alignn_layers, gcn_layers
        Number of ALIGNN blocks (atom + line graph) and of atom-graph blocks.
    output_features
        Graph-level outputs (1 for a force field).
    link
        ``"identity"``, ``"log"`` or ``"logit"`` applied to graph outputs.
    classification
        Two-class output with log-softmax.
    atomwise_output_features, additional_output_features
        Widths of the optional per-atom and extra graph-level heads.
    energy_mult_natoms
        Energy = number of atoms x per-atom output (True), or the output.
    calculate_gradient
        The model is a potential: forces and stress by autograd.
    aggregation
        ``"sum"`` (default, geometry-aware) or ``"mean"`` (alignn's normalised
        average, blind to geometry in single-element systems).
    smooth_cutoff
        Multiply edge gates by an envelope of the length at ``cutoff``, and
        angle gates by the envelopes of both bonds at ``three_body_cutoff``.
    envelope_exponent
        Exponent ``p`` of the polynomial envelope.
    use_cutoff_function, multiply_cutoff, inner_cutoff, exponent
        alignn's optional envelope on the initial bond features only.
    use_penalty, penalty_factor, penalty_threshold
        Linear wall ``factor * (threshold - d)`` on every directed edge shorter
        than the threshold. Included in the energy (alignn omits it there while
        its forces contain it).
    use_zbl, zbl_cutoff
        ZBL repulsion below ``zbl_cutoff``; ``None`` means on for potentials.
    """

    cutoff: float = 4.5
    max_neighbors: int | None = None
    cutoff_extra: float | None = None
    three_body_cutoff: float | None = 3.5
    keep_degenerate_triplets: bool = False
    atom_features: str = "cgcnn"
    atom_input_features: int | None = None
    edge_input_features: int = 80
    triplet_input_features: int = 40
    embedding_features: int = 64
    hidden_features: int = 64
    alignn_layers: int = 1
    gcn_layers: int = 2
    output_features: int = 1
    link: str = "identity"
    classification: bool = False
    atomwise_output_features: int = 0
    additional_output_features: int = 0
    energy_mult_natoms: bool = True
    calculate_gradient: bool = True
    aggregation: str = "sum"
    smooth_cutoff: bool = True
    envelope_exponent: int = 5
    use_cutoff_function: bool = False
    multiply_cutoff: bool = False
    inner_cutoff: float = 3.0
    exponent: int = 5
    use_penalty: bool = True
    penalty_factor: float = 0.5
    penalty_threshold: float = 1.0
    use_zbl: bool | None = None
    zbl_cutoff: float = 0.9

    def __post_init__(self) -> None:
        """Validate values and derive ``atom_input_features``."""
        check_choice("atom_features", self.atom_features, _ATOM_FEATURES)
        check_choice("aggregation", self.aggregation, _AGGREGATIONS)
        check_choice("link", self.link, _LINKS)
        width = ALIGNN_TABLE_WIDTHS.get(self.atom_features, 64)
        if self.atom_input_features is None:
            object.__setattr__(self, "atom_input_features", width)
        elif self.atom_features != "embedding" and self.atom_input_features != width:
            raise ConfigError(
                f"atom_input_features is {self.atom_input_features} but "
                f"atom_features '{self.atom_features}' has width {width}; "
                f"set atom_input_features to {width} or leave it out"
            )
        if not self.cutoff > 0:
            raise ConfigError(f"cutoff must be positive, got {self.cutoff}")
        if self.three_body_cutoff is not None and not (
            0 < self.three_body_cutoff <= self.cutoff
        ):
            raise ConfigError(
                f"three_body_cutoff must lie in (0, cutoff={self.cutoff}], "
                f"got {self.three_body_cutoff}"
            )
        if self.cutoff_extra is not None and not self.cutoff_extra > 0:
            raise ConfigError(
                f"cutoff_extra must be positive or null, got {self.cutoff_extra}"
            )
        if self.max_neighbors is not None and self.max_neighbors < 1:
            raise ConfigError(
                f"max_neighbors must be at least 1, got {self.max_neighbors}"
            )
        for name in ("edge_input_features", "triplet_input_features"):
            if getattr(self, name) < 2:
                raise ConfigError(f"{name} must be at least 2")
        for name in (
            "atom_input_features", "embedding_features", "hidden_features",
            "output_features",
        ):  # fmt: skip
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"{name} must be at least 1, got {getattr(self, name)}"
                )
        for name in (
            "alignn_layers", "gcn_layers", "atomwise_output_features",
            "additional_output_features",
        ):  # fmt: skip
            if getattr(self, name) < 0:
                raise ConfigError(
                    f"{name} must be 0 or more, got {getattr(self, name)}"
                )
        if self.calculate_gradient and self.output_features != 1:
            raise ConfigError(
                "a force field (calculate_gradient: true) needs output_features: 1, "
                f"got {self.output_features}"
            )

    @property
    def predicts_energy(self) -> bool:
        """Whether the model is a potential (energy, forces, stress)."""
        return self.calculate_gradient and not self.classification

    @property
    def zbl_enabled(self) -> bool:
        """Whether ZBL is on (``use_zbl=None`` follows ``calculate_gradient``)."""
        return self.calculate_gradient if self.use_zbl is None else self.use_zbl

    @property
    def graph_outputs(self) -> int:
        """Width of the graph-level head (2 for classification)."""
        return 2 if self.classification else self.output_features
