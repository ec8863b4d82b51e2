"""Settings of the training engine, shared by every model.

A run config file has a ``model`` section (the model's own config), a
``train`` section (:class:`TrainConfig`) and the settings of the model's
task, in the task's own section or beside the engine's in ``train``
(:attr:`asegen.train.Task.section`); all are optional and every key has a
documented default.
"""

from __future__ import annotations

from dataclasses import dataclass

from asegen._config import check_choice
from asegen.errors import ConfigError

__all__ = ["TrainConfig"]


@dataclass(frozen=True)
class TrainConfig:
    """Every option of the training engine.

    Attributes
    ----------
    epochs
        Passes over the training set.
    batch_size
        Items per optimizer step (per process under DDP); an item is what
        the model's task makes of a structure (for ALIGNN, the structure).
    learning_rate
        Peak learning rate.
    weight_decay
        AdamW / SGD weight decay; not applied to biases and normalisation
        weights.
    optimizer
        ``"adamw"`` or ``"sgd"`` (momentum 0.9).
    scheduler
        ``"onecycle"`` (per step, 30% warm-up) or ``"none"`` (constant). A
        task may default otherwise (diffusion: ``"none"``).
    warmup_steps
        Linear warm-up steps for ``scheduler: none``.
    lr_total_epochs
        Horizon of the one-cycle schedule (default: ``epochs``).
    grad_clip
        Clip the gradient norm to this value (``None``: no clipping).
    early_stopping
        Stop after this many epochs without a better validation loss.
    max_minutes
        A wall-clock budget: stop after the epoch in which the run's
        epochs (training and validation, summed over resumes) have taken
        this many minutes. ``None`` (default): no budget.
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
    trainable
        ``fnmatch`` patterns of the parameter names to train (e.g.
        ``["conditioning.properties.2.*"]``); every other weight stays frozen.
        ``None`` (default) trains all. For fine-tuning an adapter on a
        trained model.
    ema_decay
        Keep an exponential moving average of the weights with this decay
        per optimizer step (e.g. 0.999) and validate, checkpoint and report
        with the averaged weights; ``None`` (default) trains without.
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
    max_minutes: float | None = None
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
    trainable: list[str] | None = None
    ema_decay: float | None = None

    def __post_init__(self) -> None:
        """Check choices and ranges; name the field in every message."""
        choices = {
            "optimizer": ("adamw", "sgd"),
            "scheduler": ("onecycle", "none"),
            "dtype": ("float32", "float64"),
        }
        for name, allowed in choices.items():
            check_choice(f"train.{name}", getattr(self, name), allowed)
        for name in ("epochs", "batch_size", "lr_total_epochs", "early_stopping"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"train.{name} must be at least 1, got {value}")
        for name in (
            "seed",
            "num_workers",
            "warmup_steps",
            "n_train",
            "n_val",
            "n_test",
        ):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"train.{name} must be 0 or more, got {value}")
        if not self.weight_decay >= 0:
            raise ConfigError(
                f"train.weight_decay must be 0 or more, got {self.weight_decay}"
            )
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(
                f"train.grad_clip must be positive, got {self.grad_clip}; or null "
                "for no clipping"
            )
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ConfigError(
                f"train.max_minutes must be positive, got {self.max_minutes}; or "
                "leave it out for no budget"
            )
        if not self.learning_rate > 0:
            raise ConfigError("train.learning_rate must be positive")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ConfigError(
                f"train.ema_decay must lie between 0 and 1 (e.g. 0.999), "
                f"got {self.ema_decay}; or leave it out"
            )
        ratios = (self.train_ratio, self.val_ratio, self.test_ratio)
        if min(ratios) < 0 or sum(ratios) > 1 + 1e-9:
            raise ConfigError(
                "train.train_ratio, val_ratio and test_ratio must be non-negative "
                "and sum to at most 1"
            )
