"""asegen: ASE-first machine-learned potentials, generators and augmentation.

Everything takes and returns ASE objects. The top level holds the
capabilities; the sub-packages hold the building blocks: :mod:`asegen.graph`
(periodic neighbour graphs), :mod:`asegen.data` (HDF5 datasets),
:mod:`asegen.models`, :mod:`asegen.train` (one training engine) and
:mod:`asegen.testing` (a physics test kit for calculators). Names are imported
on first use, so ``import asegen`` stays cheap (no torch import), and
importing changes nothing process-wide: :func:`tune_allocator` is an explicit
call (the ``asegen`` command makes it when it starts).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from asegen._version import __version__

__all__ = [
    "ALIGNNCalculator",
    "Augmenter",
    "AutoregressivePlacer",
    "DiffusionGenerator",
    "__version__",
    "load",
    "tune_allocator",
]

_LAZY = {
    "ALIGNNCalculator": "asegen.calculators",
    "Augmenter": "asegen.augment",
    "AutoregressivePlacer": "asegen.placer",
    "DiffusionGenerator": "asegen.diffusion",
    "tune_allocator": "asegen._allocator",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'asegen' has no attribute {name!r}")


def load(path: str | os.PathLike, **kwargs: Any) -> Any:
    """Load a trained model as what serves its kind.

    The checkpoint names its model class and the class its task: a
    potential comes back as an ASE calculator (``ALIGNNCalculator`` for
    ALIGNN), a diffusion model as a ``DiffusionGenerator``, a placer as an
    ``AutoregressivePlacer``. A model that no
    capability serves yet, or an unknown class, is one clear error.

    Parameters
    ----------
    path
        A run directory (``logs/version_N``) or a checkpoint file.
    **kwargs
        Options of what is returned; for calculators ``device``, ``dtype``,
        ``skin``, ``neighbors``.

    Returns
    -------
    Calculator, DiffusionGenerator or AutoregressivePlacer
        What serves the stored model.
    """
    from asegen._loading import load as load_by_kind

    return load_by_kind(path, **kwargs)
