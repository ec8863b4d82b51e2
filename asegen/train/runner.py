"""``train_from_config``: what ``asegen train MODEL`` runs, callable from Python."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from asegen._config import (
    apply_overrides,
    read_config_file,
    unknown_key_error,
)
from asegen.data import read_structures
from asegen.errors import ConfigError
from asegen.models.base import MODELS, AtomisticModel
from asegen.train.config import TrainConfig
from asegen.train.engine import task_settings, train
from asegen.train.task import Task, task_for

__all__ = ["RunConfig", "load_run_config", "train_from_config"]


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
        sections and the section of the model's task (for ALIGNN, its
        settings sit in ``train``, and an alignn ``config.json`` also works);
        ``None`` uses every default.
    data, val
        Training data and an optional separate validation set: anything
        :func:`asegen.data.read_structures` reads (asegen HDF5, read lazily;
        any ASE-readable file; an alignn training folder; a folder of
        structure files).
    out
        Parent directory of the run; with ``resume``, the run or its parent.
    resume
        Continue the newest run in ``out`` from its ``last.pt``.
    overrides
        ``key=value`` strings; ``train.epochs=5``, ``model.cutoff=4.5``, or a
        bare field name of any section (train first, then the task's).
    progress
        Show progress bars (default: when writing to a terminal).

    Returns
    -------
    pathlib.Path
        The run directory.
    """
    loaded = load_run_config(model, config, overrides=overrides)
    network = loaded.build_model()
    metadata = {"data": str(data), "val": None if val is None else str(val)}
    return train(
        network,
        read_structures(data),
        config=loaded.train,
        task=loaded.settings,
        val_structures=None if val is None else read_structures(val),
        out=out,
        resume=resume,
        metadata=metadata,
        progress=progress,
        model_from_config=True,
    )


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A checked run config: the model class, its task and every section.

    Attributes
    ----------
    model_class
        The registered model class.
    task
        Its training task class.
    train
        The engine settings.
    settings
        The task's settings (an instance of ``task.config_class``).
    model
        The ``model`` section as given (the task's defaults fill the rest).
    """

    model_class: type[AtomisticModel]
    task: type[Task]
    train: TrainConfig
    settings: Any
    model: dict[str, Any]

    def build_model(self) -> AtomisticModel:
        """Build the untrained model, its weights seeded by ``train.seed``."""
        torch.manual_seed(self.train.seed)  # the seed fixes the initial weights too
        defaults = self.task.model_defaults(self.settings)
        return self.model_class.from_config({**defaults, **self.model})


def load_run_config(
    model: str,
    config: str | os.PathLike | Mapping[str, Any] | None = None,
    *,
    overrides: Iterable[str] = (),
) -> RunConfig:
    """Read and check a run config for the registered model ``model``.

    Everything :func:`train_from_config` reads from ``config`` and
    ``overrides`` (same meaning) is checked here, before any data is read.

    Raises
    ------
    asegen.errors.ConfigError
        For an unknown model, section or key, or a value out of range.
    """
    if model not in MODELS:
        raise ConfigError(f"unknown model {model!r}; choose one of {sorted(MODELS)}")
    cls = MODELS[model]
    task = task_for(cls)
    if config is None:
        raw: dict[str, Any] = {}
    elif isinstance(config, Mapping):
        raw = dict(config)
    else:
        raw = read_config_file(config)
    sections = _sections(cls.split_config(raw), task)
    apply_overrides(sections, [_qualify(item, task) for item in overrides])
    engine, settings = _split_train(sections, task)
    return RunConfig(
        cls,
        task,
        task.train_config(engine),
        task_settings(task, settings),
        sections["model"],
    )


_ENGINE_FIELDS = [f.name for f in dataclasses.fields(TrainConfig)]


def _fields(task: type[Task]) -> list[str]:
    return [f.name for f in dataclasses.fields(task.config_class)]


def _sections(data: Mapping[str, Any], task: type[Task]) -> dict[str, Any]:
    """Check the top-level keys; return every section, empty where not given."""
    names = ["model", "train", task.section]
    for key, value in data.items():
        if key not in names:
            raise unknown_key_error(str(key), names, "")
        if value is not None and not isinstance(value, Mapping):
            raise ConfigError(f"section '{key}' must be a mapping of keys to values")
    return {name: dict(data.get(name) or {}) for name in names}


def _split_train(
    sections: dict[str, Any], task: type[Task]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the engine's keys and the task's (which may share ``train``)."""
    if task.section != "train":
        return sections["train"], sections[task.section]
    engine, settings = {}, {}
    own = _fields(task)
    for key, value in sections["train"].items():
        if key in _ENGINE_FIELDS:
            engine[key] = value
        elif key in own:
            settings[key] = value
        else:
            raise unknown_key_error(str(key), [*_ENGINE_FIELDS, *own], "train.")
    return engine, settings


def _qualify(item: str, task: type[Task]) -> str:
    key = item.partition("=")[0]
    if not key or key.split(".")[0] in ("model", "train", task.section):
        return item
    field = key.split(".")[0]
    if field in _ENGINE_FIELDS:
        return f"train.{item}"
    if field in _fields(task):
        return f"{task.section}.{item}"
    return f"model.{item}"
