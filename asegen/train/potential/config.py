"""Settings of the potential task: loss, weights, targets, normalisation.

They sit in the ``train`` section of a run config, beside the engine's own
(:class:`~asegen.train.TrainConfig`), as they always have.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asegen._config import check_choice
from asegen.errors import ConfigError

__all__ = ["LossWeights", "PotentialConfig"]


@dataclass(frozen=True)
class LossWeights:
    """Weight of each loss term.

    Attributes
    ----------
    energy
        Energy per atom (eV/atom); for property models, the graph target
        (``train.target``).
    forces
        Force components (eV/Å).
    stress
        Stress components (eV/Å³).
    atomwise
        Per-atom head (ALIGNN's ``atomwise_output_features``), fitted per
        component to the per-atom values named by ``train.atomwise_key``.
    additional
        Extra graph-level head (``additional_output_features``), fitted per
        component to the ``info`` values named by ``train.additional_key``.
        A non-zero ``atomwise`` or ``additional`` weight needs the head in the
        model and the values on every structure.
    """

    energy: float = 1.0
    forces: float = 1.0
    stress: float = 0.0
    atomwise: float = 0.0
    additional: float = 0.0

    def __post_init__(self) -> None:
        """Reject negative weights."""
        for name in ("energy", "forces", "stress", "atomwise", "additional"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.weights.{name} must not be negative")


@dataclass(frozen=True)
class PotentialConfig:
    """Every option of the potential task.

    Attributes
    ----------
    loss
        ``"l1"`` or ``"mse"``, applied to every term.
    weights
        :class:`LossWeights`.
    fit_reference_energies
        Fit one energy per element by least squares on the training set and
        let the network learn the rest; the energy scale is set to the RMS
        force (or the spread of residual energies per atom without forces).
    target
        Graph-level target of property models (``calculate_gradient: false``):
        an ``atoms.info`` key, or ``"energy"`` for the energy per atom. Force
        fields ignore it and learn energies, forces and stress.
    classification_threshold
        For two-class models: targets above it are class 1.
    atomwise_key
        Per-atom target of the atomwise head (``weights.atomwise``): a name in
        ``atoms.arrays`` or a per-atom calculator result, ``(N,)`` or
        ``(N, F)``. Default ``"forces"``, as alignn's ``--atomwise_key``.
    additional_key
        Graph-level target of the additional head (``weights.additional``): an
        ``atoms.info`` key (or a calculator result), a number or ``F``
        numbers. Default ``"additional_output"``, as alignn's
        ``--additional_output_key``.
    """

    loss: str = "l1"
    weights: LossWeights = field(default_factory=LossWeights)
    fit_reference_energies: bool = True
    target: str = "energy"
    classification_threshold: float | None = None
    atomwise_key: str = "forces"
    additional_key: str = "additional_output"

    def __post_init__(self) -> None:
        """Check the loss kind and build the weights from a mapping."""
        if isinstance(self.weights, dict):
            object.__setattr__(self, "weights", LossWeights(**self.weights))
        check_choice("train.loss", self.loss, ("l1", "mse"))

    def head_keys(self) -> dict[str, str]:
        """Return the target key of each head with a non-zero loss weight."""
        keys = {"atomwise": self.atomwise_key, "additional": self.additional_key}
        return {head: key for head, key in keys.items() if getattr(self.weights, head)}
