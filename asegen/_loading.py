"""``asegen.load``: whatever fits the model stored in a run or checkpoint.

The checkpoint names its model class; the class names its task, and the task
says what a user gets back: an ASE calculator for a potential, a
:class:`~asegen.diffusion.generator.DiffusionGenerator` for a diffusion model,
an :class:`~asegen.placer.generator.AutoregressivePlacer` for a placer.
"""

from __future__ import annotations

import os
from typing import Any

from asegen.errors import DataFormatError

__all__ = ["load"]


def load(path: str | os.PathLike, **kwargs: Any) -> Any:
    """Load the model of ``path`` as the object that serves its kind.

    Raises
    ------
    asegen.errors.InputNotFoundError
        If there is no checkpoint at ``path``.
    asegen.errors.DataFormatError
        If the file is not a readable checkpoint, holds an unknown model
        class, or a model that no capability serves yet.
    """
    from asegen.models.checkpoint import load_checkpoint

    model, _ = load_checkpoint(path)
    if model.task == "potential" and model.predicts_energy:
        from asegen.calculators import calculator_for

        return calculator_for(model, **kwargs)
    if model.task == "diffusion":
        from asegen.diffusion.generator import DiffusionGenerator

        return DiffusionGenerator(model, **kwargs)
    if model.task == "placer":
        from asegen.placer.generator import AutoregressivePlacer

        return AutoregressivePlacer(model, **kwargs)
    kind = "a property model" if model.task == "potential" else f"a {model.task} model"
    raise DataFormatError(
        f"{path} holds {kind} ({model.model_name}), which asegen.load cannot serve "
        "as a calculator or generator; read it with asegen.models.load_checkpoint(path)"
    )
