"""End-of-run report of the potential task: test predictions and parity plots.

Files written into the run directory:

- ``test_predictions.csv``: one row per test structure, the energy per atom
  (property models: the target, or the probability of class 1) reference
  and predicted;
- ``test_atomwise.csv``, ``test_additional.csv``: trained heads, one row per
  atom or per structure, one ``_true`` and one ``_pred`` column per
  component;
- ``parity_energy.png`` (or ``parity_target.png``), ``parity_forces.png``
  and ``parity_<head>.png``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from asegen.graph import batch_graphs
from asegen.models.base import AtomisticModel
from asegen.models.potential import predict
from asegen.train.plots import plot_parity
from asegen.train.potential.items import HEADS, GraphItems

__all__ = ["write_report"]


def write_report(
    run: Path,
    model: AtomisticModel,
    test: GraphItems,
    *,
    split: str = "test",
    device: torch.device,
    dtype: torch.dtype,
) -> list[str]:
    """Predict the test structures one by one and write the files above.

    Returns the summary lines: the test mean absolute errors, with units,
    each line led by ``split`` (the split ``test`` holds; the files keep
    their names).
    """
    rows = []
    quantity = "energy_per_atom" if model.predicts_energy else "target"
    # true and predicted values of force components and of each trained head
    parts: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {
        name: ([], []) for name in ("forces", *test.heads)
    }
    for k in range(len(test)):
        graph = batch_graphs([test.item(k, 0)]).to(device=device, dtype=dtype)
        n = int(graph.n_atoms[0])
        if model.predicts_energy:
            out = predict(model, graph, forces=True)
            true = float(graph.energy[0]) / n if graph.energy is not None else np.nan
            value = float(out["energy"][0]) / n
        else:
            with torch.no_grad():
                out = model(graph)
            if "logits" in out:
                quantity = "class1_probability"
                value = float(out["logits"].exp()[0, 1])
            else:
                value = float(out["graph"][0, 0])
            target = graph.structure_labels.get("target")
            true = float(target[0, 0]) if target is not None else np.nan
        rows.append((k, n, true, value))
        labels = {"forces": graph.forces, **graph.atom_labels, **graph.structure_labels}
        for name, (true_parts, pred_parts) in parts.items():
            label = labels.get(name)
            if label is not None and name in out:
                true_parts.append(label.cpu().numpy())
                pred_parts.append(out[name].detach().cpu().numpy())
    lines = [f"index,n_atoms,{quantity}_true,{quantity}_pred"]
    lines += [f"{k},{n},{t:.10g},{p:.10g}" for k, n, t, p in rows]
    (run / "test_predictions.csv").write_text("\n".join(lines) + "\n")

    values = np.array([(t, p) for _, _, t, p in rows]).reshape(-1, 2)
    summary = [
        _mae_line(
            f"{split} {quantity.replace('_', ' ')}", values, _UNITS.get(quantity, "")
        )
    ]
    if quantity == "energy_per_atom":
        plot_parity(
            run / "parity_energy.png", values, "energy per atom (eV/atom)", "energy"
        )
    else:
        plot_parity(
            run / "parity_target.png", values, quantity.replace("_", " "), "target"
        )
    for name, (true_parts, pred_parts) in parts.items():
        if not true_parts:
            continue
        if name in test.heads:
            _write_head_predictions(
                run / f"test_{name}.csv", name, true_parts, pred_parts
            )
        pairs = np.stack(
            [np.concatenate(true_parts).ravel(), np.concatenate(pred_parts).ravel()],
            axis=1,
        )
        label = "force component (eV/Å)" if name == "forces" else f"{name} component"
        plot_parity(run / f"parity_{name}.png", pairs, label, name)
        summary.append(_mae_line(f"{split} {name}", pairs, _UNITS.get(name, "")))
    summary.append(f"{split} predictions and parity plots are in {run}")
    return [line for line in summary if line]


_UNITS = {"energy_per_atom": "eV/atom", "forces": "eV/Å"}


def _mae_line(name: str, pairs: np.ndarray, unit: str) -> str:
    """``"<name> MAE <value> <unit> over <n> values"`` (empty without values)."""
    pairs = pairs[np.isfinite(pairs).all(axis=1)]
    if not len(pairs):
        return ""
    mae = float(np.abs(pairs[:, 0] - pairs[:, 1]).mean())
    return f"{name} MAE {mae:.4g} {unit} over {len(pairs)} values".replace("  ", " ")


def _write_head_predictions(
    path: Path, head: str, true: list[np.ndarray], pred: list[np.ndarray]
) -> None:
    """Write ``test_{head}.csv`` with reference and predicted head values.

    One row per test structure (``additional``) or per atom (``atomwise``),
    one column per component of each.
    """
    width = true[0].shape[1]
    names = [head] if width == 1 else [f"{head}_{j}" for j in range(width)]
    per_atom = HEADS[head]
    header = ["index", *(["atom"] if per_atom else [])]
    header += [f"{name}_true" for name in names] + [f"{name}_pred" for name in names]
    lines = [",".join(header)]
    for k, (true_rows, pred_rows) in enumerate(zip(true, pred, strict=True)):
        for atom, values in enumerate(np.concatenate([true_rows, pred_rows], axis=1)):
            ids = [k, atom] if per_atom else [k]
            lines.append(",".join([*map(str, ids), *(f"{v:.10g}" for v in values)]))
    path.write_text("\n".join(lines) + "\n")
