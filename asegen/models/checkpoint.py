"""Checkpoints as plain data: format version, model class, hparams, weights.

Files are read with ``torch.load(weights_only=True)``: only tensors and plain
containers are accepted, never pickled code. A run directory
(``logs/version_N/``) may be given wherever a checkpoint file is expected; its
``checkpoints/best.pt`` (else ``last.pt``) is used.

A model trained by a task that records them carries the atomic numbers of
its training set (:func:`trained_elements`); checkpoints store them as
``trained_elements`` and calculators refuse other elements. Checkpoints
without the entry (earlier releases, untrained models) allow every element.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from asegen._run_layout import BEST, CHECKPOINTS, LAST, checkpoint_path
from asegen._units import UNITS
from asegen._version import __version__
from asegen.errors import DataFormatError, InputNotFoundError
from asegen.models.base import MODELS, AtomisticModel

__all__ = [
    "FORMAT_VERSION",
    "load_checkpoint",
    "resolve_checkpoint",
    "save_checkpoint",
    "set_trained_elements",
    "state_dtype",
    "trained_elements",
]

FORMAT_VERSION = 1

_ELEMENTS = "trained_elements"  # the model attribute and the checkpoint entry


def trained_elements(model: AtomisticModel) -> tuple[int, ...] | None:
    """Return the atomic numbers ``model`` was trained on, or ``None`` if unknown."""
    return getattr(model, _ELEMENTS, None)


def set_trained_elements(model: AtomisticModel, numbers: Iterable[int]) -> None:
    """Record the atomic numbers of ``model``'s training set (sorted, once each)."""
    unique = np.unique(np.fromiter(numbers, dtype=np.int64))
    setattr(model, _ELEMENTS, tuple(int(z) for z in unique))


def save_checkpoint(
    path: str | os.PathLike, model: AtomisticModel, **extra: Any
) -> None:
    """Write ``model`` (and plain ``extra`` entries, e.g. optimizer state) atomically.

    The file is written next to ``path`` and renamed over it, so an
    interrupted save never leaves a truncated checkpoint behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format_version": FORMAT_VERSION,
        "model_class": model.model_name,
        "hparams": model.hparams(),
        "units": dict(UNITS),
        "asegen_version": __version__,
        "state_dict": model.state_dict(),
        **extra,
    }
    elements = trained_elements(model)
    if elements is not None:
        payload[_ELEMENTS] = list(elements)
    partial = path.with_name(path.name + ".partial")
    torch.save(payload, partial)
    os.replace(partial, path)


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """Return the checkpoint file for ``path``.

    ``path`` is a checkpoint file, a run directory, or the name of a bundled
    model (:mod:`asegen.pretrained`) when no such file or folder exists.
    """
    path = Path(path)
    if not path.exists() and str(path) in _bundled():
        from asegen.pretrained import checkpoint

        return checkpoint(str(path))
    if path.is_dir():
        for name in (BEST, LAST):
            candidate = checkpoint_path(path, name)
            if candidate.is_file():
                return candidate
        raise InputNotFoundError(
            f"{path} has no {CHECKPOINTS}/{BEST} or {CHECKPOINTS}/{LAST}; pass a "
            "run directory (logs/version_N) or a checkpoint file"
        )
    if not path.exists():
        bundled = ", ".join(_bundled()) or "none yet"
        raise InputNotFoundError(
            f"checkpoint {path} does not exist (nor a bundled model of that name; "
            f"bundled: {bundled})"
        )
    return path


def _bundled() -> dict[str, str]:
    from asegen.pretrained import available

    return available()


def load_checkpoint(
    path: str | os.PathLike, *, map_location: str | torch.device = "cpu"
) -> tuple[AtomisticModel, dict[str, Any]]:
    """Rebuild the model stored at ``path`` and return it with the whole payload.

    Raises
    ------
    asegen.errors.InputNotFoundError
        If nothing is found at ``path``.
    asegen.errors.DataFormatError
        If the file is not an asegen checkpoint, is corrupt, holds pickled
        code, was written by a newer format version, or its weights do not
        fit the model its hparams describe.
    """
    file = resolve_checkpoint(path)
    try:
        payload = torch.load(file, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for bad files
        reason = _load_failure(err)
        raise DataFormatError(
            f"{file} is not a readable asegen checkpoint ({reason[:160]}); "
            "pass a file written by asegen"
        ) from None
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise DataFormatError(f"{file} is not an asegen checkpoint (no format_version)")
    if payload["format_version"] > FORMAT_VERSION:
        raise DataFormatError(
            f"{file} has checkpoint format {payload['format_version']}, this asegen "
            f"({__version__}) reads up to {FORMAT_VERSION}; upgrade asegen"
        )
    name = payload.get("model_class")
    if name not in MODELS:
        known = ", ".join(sorted(MODELS)) or "none registered"
        raise DataFormatError(
            f"{file} holds unknown model class {name!r} (known: {known})"
        )
    try:
        model = MODELS[name].from_hparams(payload["hparams"])
        model = model.to(state_dtype(payload["state_dict"]))  # no rounding on load
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise DataFormatError(
            f"{file}: its weights do not fit the {name} model its hparams describe "
            f"({type(err).__name__}: {reason[:160]}); the file is corrupt or was "
            "edited, load the checkpoint as written by asegen"
        ) from None
    if _ELEMENTS in payload:
        set_trained_elements(model, payload[_ELEMENTS])
    return model.to(map_location), payload


def _load_failure(err: Exception) -> str:
    """Return why ``torch.load`` refused a file, in a few words."""
    text = str(err).strip()
    if "Weights only load failed" in text:  # torch's long advice: keep the cause
        if "Unsupported global" in text:
            return "it holds pickled code, which asegen never runs"
        return "not a torch checkpoint, or a damaged one"
    return text.splitlines()[0] if text else type(err).__name__


def state_dtype(state: dict[str, torch.Tensor]) -> torch.dtype:
    """Return the widest floating-point dtype of a state dict (float32 if none).

    Loading into a model of this dtype never rounds a stored value.
    """
    dtypes = [
        v.dtype for v in state.values() if torch.is_tensor(v) and v.is_floating_point()
    ]
    return max(dtypes, key=lambda d: torch.finfo(d).bits, default=torch.float32)
