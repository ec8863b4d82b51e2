"""Function-style entry points, named as AGeDi users know them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ase import Atoms

from asegen.diffusion.generator import DiffusionGenerator

__all__ = ["load_diffusion", "sample", "train_diffusion"]


def load_diffusion(path: str | os.PathLike, **options: Any) -> DiffusionGenerator:
    """Return the generator of a run or checkpoint (``DiffusionGenerator.load``)."""
    return DiffusionGenerator.load(path, **options)


def sample(
    diffusion: DiffusionGenerator, n_samples: int = 10, **request: Any
) -> list[Atoms]:
    """Return ``diffusion.sample(n_samples, **request)``."""
    return diffusion.sample(n_samples, **request)


def train_diffusion(
    data: str | os.PathLike,
    config: str | os.PathLike | Mapping[str, Any] | None = None,
    *,
    out: str | os.PathLike = "logs",
    **options: Any,
) -> Path:
    """Train a score model on ``data``; ``options`` override the ``diffusion`` section.

    ``config`` is a run config (``model``, ``train``, ``diffusion``
    sections); e.g. ``train_diffusion("bulk.h5", noiser="periodic",
    conditioning={"energy_per_atom": "scalar"})``. Returns the run directory,
    which :func:`load_diffusion` reads. Engine options go in ``config``'s
    ``train`` section or ``asegen.train.runner.train_from_config``.
    """
    from asegen.train.runner import train_from_config

    overrides = [f"diffusion.{key}={_yaml(value)}" for key, value in options.items()]
    return train_from_config("score", config, data=data, out=out, overrides=overrides)


def _yaml(value: Any) -> str:
    import yaml

    return (
        yaml.safe_dump(value, default_flow_style=True)
        .strip()
        .removesuffix("...")
        .strip()
    )
