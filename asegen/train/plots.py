"""PNG plots of a finished run: loss curves and parity plots (matplotlib)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["plot_run"]


def plot_run(
    run: Path,
    *,
    metrics: list[dict[str, str]],
    values: np.ndarray,
    forces: np.ndarray | None,
    label: str = "energy per atom",
    heads: Mapping[str, np.ndarray] | None = None,
) -> list[Path]:
    """Write ``loss_curves.png`` and parity plots into ``run``; return their paths.

    Parameters
    ----------
    run
        The run directory.
    metrics
        Rows of ``metrics.csv``.
    values
        ``(M, 2)`` true and predicted energy per atom (or property) of the
        test structures.
    forces
        ``(K, 2)`` true and predicted force components, or ``None``.
    label
        What ``values`` holds, for the axis labels.
    heads
        ``(K, 2)`` true and predicted components of each trained head
        (``"atomwise"``, ``"additional"``), plotted as ``parity_{name}.png``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    if metrics:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        epochs = [int(r["epoch"]) + 1 for r in metrics]
        for key, name in (("train_loss", "train"), ("val_loss", "validation")):
            losses = [float(r[key]) for r in metrics if r.get(key)]
            if losses:
                ax.plot(epochs[: len(losses)], losses, marker="o", ms=3, label=name)
        ax.set(xlabel="epoch", ylabel="loss", yscale="log", title="Loss")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend()
        written.append(_save(fig, run / "loss_curves.png"))
    unit = " (eV/atom)" if label == "energy per atom" else ""
    pairs = {"energy" if unit else "target": (values, label + unit)}
    if forces is not None:
        pairs["forces"] = (forces, "force component (eV/Å)")
    for name, pair in (heads or {}).items():
        pairs[name] = (pair, f"{name} component")
    for name, (pair, axis_label) in pairs.items():
        pair = pair[np.isfinite(pair).all(axis=1)]
        if not len(pair):
            continue
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.scatter(pair[:, 0], pair[:, 1], s=6, alpha=0.6)
        low, high = float(pair.min()), float(pair.max())
        ax.plot([low, high], [low, high], color="black", lw=0.8)
        mae = float(np.abs(pair[:, 0] - pair[:, 1]).mean())
        ax.set(xlabel=f"reference {axis_label}", ylabel=f"predicted {axis_label}")
        ax.set_title(f"{name}: MAE {mae:.3g}")
        written.append(_save(fig, run / f"parity_{name}.png"))
    return written


def _save(fig: object, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()  # type: ignore[attr-defined]
    fig.savefig(path, dpi=120)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return path
