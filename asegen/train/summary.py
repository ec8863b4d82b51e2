"""What a run directory or checkpoint holds, for ``asegen info RUN``."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from asegen._run_layout import CHECKPOINTS, HPARAMS, METRICS
from asegen.models.base import AtomisticModel
from asegen.models.checkpoint import load_checkpoint, resolve_checkpoint

__all__ = ["RunSummary", "is_run", "summarize_run"]


def is_run(path: str | os.PathLike) -> bool:
    """Tell a run directory or checkpoint file from a structure file."""
    path = Path(path)
    return (path / CHECKPOINTS).is_dir() or path.suffix == ".pt"


@dataclass
class RunSummary:
    """The facts ``asegen info`` prints about a run or checkpoint.

    Attributes
    ----------
    path, checkpoint
        What was asked about, and the checkpoint file read.
    model_class, task
        The stored model's registered name and its task.
    loads_as
        What ``asegen.load`` returns for it, in words.
    parameters
        Number of weights.
    dtype
        Floating-point type of the stored weights.
    graph
        The model's graph options (cutoff, ...).
    asegen_version
        The release that wrote the checkpoint.
    epoch
        The checkpoint's epoch as ``metrics.csv`` numbers it, from 0
        (``None`` if it does not say); training and ``asegen info`` count
        from 1.
    epochs
        Rows of ``metrics.csv`` (0 without one).
    best
        ``(epoch, validation loss)`` of the best epoch in ``metrics.csv``
        (its ``epoch`` column, from 0).
    data
        The ``data`` section of ``hparams.yaml`` (sizes and paths).
    """

    path: Path
    checkpoint: Path
    model_class: str
    task: str
    loads_as: str
    parameters: int
    dtype: str
    graph: dict[str, Any]
    asegen_version: str
    epoch: int | None
    epochs: int = 0
    best: tuple[int, float] | None = None
    data: dict[str, Any] = field(default_factory=dict)


def summarize_run(path: str | os.PathLike) -> RunSummary:
    """Read the checkpoint (and, for a run directory, its other files).

    Raises
    ------
    asegen.errors.InputNotFoundError, asegen.errors.DataFormatError
        As :func:`~asegen.models.load_checkpoint` does.
    """
    path = Path(path)
    checkpoint = resolve_checkpoint(path)
    model, payload = load_checkpoint(checkpoint)
    weights = list(model.state_dict().values())
    summary = RunSummary(
        path=path,
        checkpoint=checkpoint,
        model_class=model.model_name,
        task=model.task,
        loads_as=_loads_as(model),
        parameters=sum(p.numel() for p in model.parameters()),
        dtype=str(weights[0].dtype).removeprefix("torch.") if weights else "none",
        graph=model.graph_options(),
        asegen_version=str(payload.get("asegen_version", "unknown")),
        epoch=payload.get("epoch"),
    )
    if path.is_dir() and (path / METRICS).is_file():
        with (path / METRICS).open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        summary.epochs = len(rows)
        scored = [
            (int(r["epoch"]), float(r["val_loss"])) for r in rows if r["val_loss"]
        ]
        if scored:
            summary.best = min(scored, key=lambda pair: pair[1])
    if path.is_dir() and (path / HPARAMS).is_file():
        hparams = yaml.safe_load((path / HPARAMS).read_text()) or {}
        summary.data = dict(hparams.get("data") or {})
    return summary


def _loads_as(model: AtomisticModel) -> str:
    """Return what ``asegen.load`` gives for ``model``, in words."""
    if model.task == "potential" and model.predicts_energy:
        return "an ASE calculator (asegen.load)"
    if model.task == "diffusion":
        return "a DiffusionGenerator (asegen.load; asegen sample)"
    if model.task == "placer":
        return "an AutoregressivePlacer (asegen.load; asegen place)"
    return "a model (asegen.models.load_checkpoint)"
