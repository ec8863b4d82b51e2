"""Forces and stress of an energy model, by one backward pass."""

from __future__ import annotations

import torch
from torch import Tensor

from asegen.graph import AtomsGraph, apply_strain, cell_volume
from asegen.models.base import AtomisticModel

__all__ = ["predict"]


def predict(
    model: AtomisticModel,
    graph: AtomsGraph,
    *,
    forces: bool = True,
    stress: bool = False,
    create_graph: bool | None = None,
) -> dict[str, Tensor]:
    """Evaluate ``model`` and derive forces and stress from its energy.

    One forward pass and (for forces or stress) one backward pass through a
    zero strain: ``forces = -dE/dpositions`` (eV/Å) and
    ``stress = (1/V) dE/dstrain`` (eV/Å³, ASE's sign, ``(S, 3, 3)``).

    Parameters
    ----------
    model
        A model with ``predicts_energy``.
    graph
        The batch.
    forces, stress
        Which derivatives to compute. Stress is NaN for structures that are
        not periodic along all three axes.
    create_graph
        Keep the graph of the derivatives for a second backward pass (needed
        when forces enter a training loss). Default: ``model.training``.

    Returns
    -------
    dict[str, torch.Tensor]
        The model's outputs plus ``"forces"`` (``(N, 3)``) and ``"stress"``.
    """
    if not model.predicts_energy:
        raise ValueError(f"{type(model).__name__} does not predict an energy")
    if create_graph is None:
        create_graph = model.training
    if not (forces or stress):
        return model(graph)
    with torch.enable_grad():
        positions = graph.positions.detach().requires_grad_(forces)
        strained = graph.replace(positions=positions)
        inputs = [positions] if forces else []
        if stress:
            strain = torch.zeros_like(graph.cell, requires_grad=True)  # (S, 3, 3)
            strained = apply_strain(strained, strain)
            inputs.append(strain)
        out = model(strained)
        grads = torch.autograd.grad(
            out["energy"].sum(), inputs, create_graph=create_graph, allow_unused=True
        )
    grads = [
        torch.zeros_like(x) if g is None else g
        for g, x in zip(grads, inputs, strict=True)
    ]
    if forces:
        out["forces"] = -grads[0]
    if stress:
        volume = cell_volume(graph.cell)  # (S,)
        periodic = graph.pbc.all(dim=1) & (volume > 0)
        safe = torch.where(periodic, volume, torch.ones_like(volume))
        virial = grads[-1] / safe[:, None, None]
        out["stress"] = torch.where(periodic[:, None, None], virial, torch.nan)
    if not create_graph:
        out = {key: value.detach() for key, value in out.items()}
    return out
