"""PNG plots of a finished run: loss curves and parity plots (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_run"]


def plot_run(
    run: Path,
    *,
    metrics: list[dict[str, str]],
    energies: np.ndarray,
    forces: np.ndarray | None,
) -> list[Path]:
    """Write ``loss_curves.png`` and parity plots into ``run``; return their paths.

    Parameters
    ----------
    run
        The run directory.
    metrics
        Rows of ``metrics.csv``.
    energies
        ``(M, 2)`` true and predicted energy per atom of the test structures.
    forces
        ``(K, 2)`` true and predicted force components, or ``None``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    if metrics:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        epochs = [int(r["epoch"]) + 1 for r in metrics]
        for key, label in (("train_loss", "train"), ("val_loss", "validation")):
            values = [float(r[key]) for r in metrics if r.get(key)]
            if values:
                ax.plot(epochs[: len(values)], values, marker="o", ms=3, label=label)
        ax.set(xlabel="epoch", ylabel="loss", yscale="log", title="Loss")
        ax.legend()
        written.append(_save(fig, run / "loss_curves.png"))
    pairs = {"energy": (energies, "energy per atom (eV/atom)")}
    if forces is not None:
        pairs["forces"] = (forces, "force component (eV/Å)")
    for name, (values, label) in pairs.items():
        values = values[np.isfinite(values).all(axis=1)]
        if not len(values):
            continue
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.scatter(values[:, 0], values[:, 1], s=6, alpha=0.6)
        low, high = float(values.min()), float(values.max())
        ax.plot([low, high], [low, high], color="black", lw=0.8)
        mae = float(np.abs(values[:, 0] - values[:, 1]).mean())
        ax.set(xlabel=f"reference {label}", ylabel=f"predicted {label}")
        ax.set_title(f"{name}: MAE {mae:.3g}")
        written.append(_save(fig, run / f"parity_{name}.png"))
    return written


def _save(fig: object, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()  # type: ignore[attr-defined]
    fig.savefig(path, dpi=120)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return path
