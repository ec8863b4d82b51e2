"""Teach a trained generator a new property: MatterGen-style adapters.

:func:`finetune_diffusion` adds conditioning properties to a trained score
model: each new property gets its own embedding (the *adapter*), started at
zero so that the model is exactly the base model at the first step, and only
the adapters train; every base weight stays frozen (``train.trainable``).
The base model's process (noisers, elements, density) is kept; only the new
properties' statistics are fitted to the new data. The result is an ordinary
run directory, sampled like any other.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from asegen._config import read_config_file
from asegen.diffusion.config import DiffusionConfig
from asegen.diffusion.process import Process
from asegen.diffusion.task import DiffusionTask
from asegen.errors import ConfigError
from asegen.models.checkpoint import load_checkpoint
from asegen.models.score import ScoreModel

__all__ = ["adapted_model", "finetune_diffusion"]


def adapted_model(
    base: ScoreModel, properties: Mapping[str, Any]
) -> tuple[ScoreModel, list[str]]:
    """Return ``base`` with new property adapters, and the adapters' parameter names.

    Raises
    ------
    asegen.errors.ConfigError
        If a property is known to the base model already.
    """
    known = sorted(set(properties) & set(base.config.properties))
    if known:
        raise ConfigError(
            f"the base model is conditioned on {known} already; fine-tune on a new "
            "property or train it again"
        )
    options = DiffusionConfig(conditioning=dict(properties)).properties()
    config = dataclasses.replace(
        base.config, properties={**base.config.properties, **options}
    )
    model = ScoreModel(config, base.process)
    missing, unexpected = model.load_state_dict(base.state_dict(), strict=False)
    if unexpected or not all(
        name.startswith("conditioning.properties.") for name in missing
    ):
        raise ConfigError("the base checkpoint does not fit its own configuration")
    first = len(base.config.properties)
    with torch.no_grad():  # zero adapters: the base model, exactly, at the start
        for adapter in model.conditioning.properties[first:]:
            for parameter in adapter.parameters():
                parameter.zero_()
    return model, [
        f"conditioning.properties.{k}.*" for k in range(first, len(config.properties))
    ]


def finetune_diffusion(
    base: str | os.PathLike,
    data: str | os.PathLike,
    conditioning: Mapping[str, Any],
    config: str | os.PathLike | Mapping[str, Any] | None = None,
    *,
    val: str | os.PathLike | None = None,
    out: str | os.PathLike = "logs",
    resume: bool = False,
    progress: bool | None = None,
) -> Path:
    """Fine-tune the generator of ``base`` on ``data`` for new properties.

    Parameters
    ----------
    base
        The trained generator's run directory or checkpoint.
    data, val
        Structures carrying the new properties (and an optional validation
        set).
    conditioning
        The new properties: name to ``"scalar"``, ``"integer"`` or
        ``{"kind": "integer", "classes": C}``.
    config
        Optional run config; only its ``train`` section is read (the
        engine's settings: epochs, learning rate, ...).
    out, resume, progress
        As for :func:`asegen.train.train`.

    Returns
    -------
    pathlib.Path
        The run directory.
    """
    from asegen.data import read_structures
    from asegen.train import train

    model, _ = load_checkpoint(base)
    if not isinstance(model, ScoreModel) or not model.process:
        raise ConfigError(f"{base} holds no trained diffusion generator to fine-tune")
    tuned, adapters = adapted_model(model, conditioning)
    process = Process.from_hparams(model.process)
    raw = (
        {}
        if config is None
        else dict(config)
        if isinstance(config, Mapping)
        else read_config_file(config)
    )
    section = {**dict(raw.get("train") or {}), "trainable": adapters}
    settings = _settings(process, conditioning)  # base properties: not given
    return train(
        tuned,
        read_structures(data),
        config=DiffusionTask.train_config(section),
        task=settings,
        val_structures=None if val is None else read_structures(val),
        out=out,
        resume=resume,
        metadata={"base": str(base), "data": str(data)},
        progress=progress,
    )


def _settings(process: Process, properties: Mapping[str, Any]) -> DiffusionConfig:
    """Return settings for the base model's ``process`` and new ``properties``."""
    positions = process.noisers["positions"]
    types = process.noisers.get("types")
    return DiffusionConfig(
        noiser=positions.kind,  # type: ignore[attr-defined]
        sde=positions.sde.kind,  # type: ignore[attr-defined]
        types=types is not None,
        types_kind=getattr(types, "kind", "absorbing"),
        cell="cell" in process.noisers,
        confinement=process.confinement,
        conditioning=dict(properties),
        t_min=process.t_min,
    )
