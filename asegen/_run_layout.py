"""The names of a run directory's files, written down once.

``OUT/version_N/`` holds ``hparams.yaml``, ``metrics.csv`` and
``checkpoints/`` with ``best.pt`` and ``last.pt``; the engine writes them,
loaders and ``asegen info`` read them.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BEST", "CHECKPOINTS", "HPARAMS", "LAST", "METRICS", "checkpoint_path"]

CHECKPOINTS = "checkpoints"
BEST = "best.pt"
LAST = "last.pt"
HPARAMS = "hparams.yaml"
METRICS = "metrics.csv"


def checkpoint_path(run: Path, name: str) -> Path:
    """Return ``run/checkpoints/<name>`` (``name``: :data:`BEST` or :data:`LAST`)."""
    return run / CHECKPOINTS / name
