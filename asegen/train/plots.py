"""PNG plots of a run: loss curves (the engine) and parity plots (for tasks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_losses", "plot_parity"]


def plot_losses(path: Path, metrics: list[dict[str, str]]) -> Path | None:
    """Draw training and validation loss per epoch from ``metrics.csv`` rows.

    Returns the file written, or ``None`` when there are no rows.
    """
    if not metrics:
        return None
    fig, ax = _figure(5, 3.5)
    epochs = [int(r["epoch"]) + 1 for r in metrics]
    for key, name in (("train_loss", "train"), ("val_loss", "validation")):
        losses = [float(r[key]) for r in metrics if r.get(key)]
        if losses:
            ax.plot(epochs[: len(losses)], losses, marker="o", ms=3, label=name)
    ax.set(xlabel="epoch", ylabel="loss", yscale="log", title="Loss")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend()
    return _save(fig, path)


def plot_parity(path: Path, pairs: np.ndarray, label: str, name: str) -> Path | None:
    """Draw predicted against reference values with the MAE in the title.

    Parameters
    ----------
    path
        The PNG file to write.
    pairs
        ``(K, 2)`` reference and predicted values; rows with a NaN are left out.
    label
        What the values are, with their unit, for the axes.
    name
        The title's name of the quantity.

    Returns
    -------
    pathlib.Path or None
        The file written, or ``None`` when no finite pair is left.
    """
    pairs = pairs[np.isfinite(pairs).all(axis=1)]
    if not len(pairs):
        return None
    fig, ax = _figure(4, 4)
    ax.scatter(pairs[:, 0], pairs[:, 1], s=6, alpha=0.6)
    low, high = float(pairs.min()), float(pairs.max())
    ax.plot([low, high], [low, high], color="black", lw=0.8)
    mae = float(np.abs(pairs[:, 0] - pairs[:, 1]).mean())
    ax.set(xlabel=f"reference {label}", ylabel=f"predicted {label}")
    ax.set_title(f"{name}: MAE {mae:.3g}")
    return _save(fig, path)


def _figure(width: float, height: float) -> tuple[Any, Any]:
    """Return a figure and its axes; pyplot, its backend and state stay untouched."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
