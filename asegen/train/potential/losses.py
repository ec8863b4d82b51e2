"""Loss terms and error metrics of the potential task; NaN labels are skipped."""

from __future__ import annotations

import torch
from torch import Tensor

from asegen.graph import AtomsGraph
from asegen.train.potential.config import LossWeights

__all__ = ["loss_terms"]


def _error(pred: Tensor, target: Tensor, kind: str) -> tuple[Tensor, Tensor]:
    """Return (loss, mean absolute error) over the finite entries of ``target``."""
    mask = torch.isfinite(target)
    if not mask.any():
        zero = pred.sum() * 0.0  # keeps the graph connected for DDP
        return zero, zero.detach()
    diff = pred[mask] - target[mask]
    loss = diff.abs().mean() if kind == "l1" else diff.pow(2).mean()
    return loss, diff.detach().abs().mean()


def loss_terms(
    pred: dict[str, Tensor],
    graph: AtomsGraph,
    weights: LossWeights,
    kind: str,
    *,
    threshold: float | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Weighted loss of a batch and the mean absolute error of each term.

    Energies enter per atom (eV/atom), forces per component (eV/Å), stress per
    component (eV/Å³). Property models (``"graph"`` or ``"logits"`` outputs)
    are fitted to the structure label ``"target"`` with the energy weight:
    L1/MSE, or for classification the negative log-likelihood of
    ``target > threshold``. Both kinds also fit their ``"atomwise"`` and
    ``"additional"`` heads to the labels of the same names, per component.
    Terms with zero weight or without labels are skipped.

    Returns
    -------
    loss
        The weighted sum, differentiable.
    metrics
        ``"loss"`` and the mean absolute error of each computed term
        (``"energy_mae"``, ..., ``"atomwise_mae"``, ``"additional_mae"``, or
        ``"target_mae"`` / ``"target_error_rate"``), as floats.
    """
    if "energy" in pred:
        n_atoms = graph.n_atoms.to(pred["energy"].dtype)
        total = pred["energy"].sum() * 0.0
        metrics: dict[str, float] = {}
        pairs = {
            "energy": (
                pred["energy"] / n_atoms,
                None if graph.energy is None else graph.energy / n_atoms,
            ),
            "forces": (pred.get("forces"), graph.forces),
            "stress": (pred.get("stress"), graph.stress),
        }
    else:
        total, metrics = _property_loss(pred, graph, weights.energy, kind, threshold)
        pairs = {}
    pairs["atomwise"] = (pred.get("atomwise"), graph.atom_labels.get("atomwise"))
    pairs["additional"] = (
        pred.get("additional"),
        graph.structure_labels.get("additional"),
    )
    for name, (prediction, target) in pairs.items():
        weight = getattr(weights, name)
        if weight == 0 or prediction is None or target is None:
            continue
        loss, mae = _error(prediction, target.to(prediction.dtype), kind)
        total = total + weight * loss
        metrics[f"{name}_mae"] = float(mae)
    metrics["loss"] = float(total.detach())
    return total, metrics


def _property_loss(
    pred: dict[str, Tensor],
    graph: AtomsGraph,
    weight: float,
    kind: str,
    threshold: float | None,
) -> tuple[Tensor, dict[str, float]]:
    """Weighted loss of the graph target and its error metric."""
    target = graph.structure_labels.get("target")
    if target is None:
        raise ValueError("property models need the label 'target' (train.target)")
    if "logits" in pred:
        labels = target[:, 0]
        known = torch.isfinite(labels)
        classes = (labels[known] > (threshold or 0.0)).long()
        logits = pred["logits"][known]
        loss = weight * torch.nn.functional.nll_loss(logits, classes)
        error = (logits.argmax(dim=1) != classes).float().mean()
        return loss, {"target_error_rate": float(error)}
    loss, mae = _error(pred["graph"], target.to(pred["graph"].dtype), kind)
    return weight * loss, {"target_mae": float(mae)}
