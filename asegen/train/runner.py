"""``train_from_config``: what ``asegen train MODEL`` runs, callable from Python."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from asegen._config import apply_overrides, from_dict, read_config_file
from asegen.errors import ConfigError
from asegen.models.base import MODELS
from asegen.train.config import TrainConfig
from asegen.train.data import load_structures
from asegen.train.engine import train

__all__ = ["train_from_config"]

_TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


def train_from_config(
    model: str,
    config: str | os.PathLike | Mapping[str, Any] | None = None,
    *,
    data: str | os.PathLike,
    val: str | os.PathLike | None = None,
    out: str | os.PathLike = "logs",
    resume: bool = False,
    overrides: Iterable[str] = (),
    progress: bool | None = None,
) -> Path:
    """Train the registered model ``model`` as described by a run config.

    Parameters
    ----------
    model
        Registered model name, e.g. ``"alignn"``.
    config
        A YAML/JSON file or a mapping with optional ``model`` and ``train``
        sections (for ALIGNN, an alignn ``config.json`` also works); ``None``
        uses every default.
    data, val
        Training data (asegen HDF5 or any ASE-readable file) and an optional
        separate validation set.
    out
        Parent directory of the run; with ``resume``, the run or its parent.
    resume
        Continue the newest run in ``out`` from its ``last.pt``.
    overrides
        ``key=value`` strings; ``train.epochs=5``, ``model.cutoff=4.5``, or a
        bare field name of either section (train first).
    progress
        Show progress bars (default: when writing to a terminal).

    Returns
    -------
    pathlib.Path
        The run directory.
    """
    if model not in MODELS:
        raise ConfigError(f"unknown model {model!r}; choose one of {sorted(MODELS)}")
    cls = MODELS[model]
    if config is None:
        raw: dict[str, Any] = {}
    elif isinstance(config, Mapping):
        raw = dict(config)
    else:
        raw = read_config_file(config)
    model_section, train_section = cls.split_config(raw)
    sections = {"model": model_section, "train": train_section}
    qualified = [_qualify(item) for item in overrides]
    apply_overrides(sections, qualified)
    train_config = from_dict(TrainConfig, sections["train"], "train.")
    torch.manual_seed(train_config.seed)  # the seed fixes the initial weights too
    network = cls.from_config(sections["model"])
    metadata = {"data": str(data), "val": None if val is None else str(val)}
    return train(
        network,
        load_structures(data),
        config=train_config,
        val_structures=None if val is None else load_structures(val),
        out=out,
        resume=resume,
        metadata=metadata,
        progress=progress,
    )


def _qualify(item: str) -> str:
    key = item.partition("=")[0]
    if key.startswith(("model.", "train.")):
        return item
    section = "train" if key.split(".")[0] in _TRAIN_FIELDS else "model"
    return f"{section}.{item}"
