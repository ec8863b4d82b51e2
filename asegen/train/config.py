"""Settings of the training engine, shared by every model.

A run config file has two sections, ``model`` (the model's own config) and
``train`` (:class:`TrainConfig`); both are optional and every key has a
documented default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asegen._config import check_choice
from asegen.errors import ConfigError

__all__ = ["LossWeights", "TrainConfig"]


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
class TrainConfig:
    """Every option of the training engine.

    Attributes
    ----------
    epochs
        Passes over the training set.
    batch_size
        Structures per optimizer step (per process under DDP).
    learning_rate
        Peak learning rate.
    weight_decay
        AdamW / SGD weight decay; not applied to biases and normalisation
        weights.
    optimizer
        ``"adamw"`` or ``"sgd"`` (momentum 0.9).
    scheduler
        ``"onecycle"`` (per step, 30% warm-up) or ``"none"``.
    warmup_steps
        Linear warm-up steps for ``scheduler: none``.
    lr_total_epochs
        Horizon of the one-cycle schedule (default: ``epochs``).
    grad_clip
        Clip the gradient norm to this value (``None``: no clipping).
    early_stopping
        Stop after this many epochs without a better validation loss.
    loss
        ``"l1"`` or ``"mse"``, applied to every term.
    weights
        :class:`LossWeights`.
    train_ratio, val_ratio, test_ratio
        Split of ``--data`` when no ``--val`` is given (fractions).
    n_train, n_val, n_test
        Split by counts instead (each overrides its ratio).
    keep_data_order
        Split in file order instead of a seeded shuffle.
    seed
        Seed of the split, the initial weights and the batch order.
    num_workers
        DataLoader worker processes.
    device
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda:0"``, ...
    dtype
        ``"float32"`` or ``"float64"``.
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

    epochs: int = 100
    batch_size: int = 16
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adamw"
    scheduler: str = "onecycle"
    warmup_steps: int = 0
    lr_total_epochs: int | None = None
    grad_clip: float | None = 10.0
    early_stopping: int | None = None
    loss: str = "l1"
    weights: LossWeights = field(default_factory=LossWeights)
    train_ratio: float = 0.8
    val_ratio: float = 0.1
    test_ratio: float = 0.1
    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None
    keep_data_order: bool = False
    seed: int = 123
    num_workers: int = 0
    device: str = "auto"
    dtype: str = "float32"
    fit_reference_energies: bool = True
    target: str = "energy"
    classification_threshold: float | None = None
    atomwise_key: str = "forces"
    additional_key: str = "additional_output"

    def __post_init__(self) -> None:
        """Check choices and ranges; name the field in every message."""
        if isinstance(self.weights, dict):
            object.__setattr__(self, "weights", LossWeights(**self.weights))
        choices = {
            "optimizer": ("adamw", "sgd"),
            "scheduler": ("onecycle", "none"),
            "loss": ("l1", "mse"),
            "dtype": ("float32", "float64"),
        }
        for name, allowed in choices.items():
            check_choice(f"train.{name}", getattr(self, name), allowed)
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be at least 1")
        if not self.learning_rate > 0:
            raise ConfigError("train.learning_rate must be positive")
        ratios = (self.train_ratio, self.val_ratio, self.test_ratio)
        if min(ratios) < 0 or sum(ratios) > 1 + 1e-9:
            raise ConfigError(
                "train.train_ratio, val_ratio and test_ratio must be non-negative "
                "and sum to at most 1"
            )
